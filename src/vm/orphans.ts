/**
 * Orphans: VMs on Proxmox whose ownership tag (stacks/ownership-marker.ts) names a ProxmoxVM that
 * no longer exists. A deletion with `deletionPolicy: Orphan` leaves one on purpose; a resource
 * deleted while its finalizer was removed by hand, or an etcd restored from an older backup,
 * leaves one by accident. The operator never touches them: it lists them, so a person decides.
 */
import { ownerUidOfTag } from "../synth/synthesize.js";

export interface TaggedGuest {
  vmid: number;
  node: string;
  name: string;
  /** Proxmox's `tags` as it lists them (";"- or ","-separated). */
  tags?: string;
}

export interface OrphanedVm {
  vmid: number;
  node: string;
  name: string;
  /** The uid the VM's ownership tag names. */
  ownerUid: string;
}

/** The guests whose ownership tag names none of `knownUids`, by VM id. Pure. */
export function orphanedVms(guests: Iterable<TaggedGuest>, knownUids: ReadonlySet<string>): OrphanedVm[] {
  const out: OrphanedVm[] = [];
  for (const g of guests) {
    const owners = (g.tags ?? "").split(/[;,\s]+/).map(ownerUidOfTag).filter((uid): uid is string => uid !== undefined);
    if (owners.length === 0 || owners.some((uid) => knownUids.has(uid))) continue;
    out.push({ vmid: g.vmid, node: g.node, name: g.name, ownerUid: owners[0]! });
  }
  return out.sort((a, b) => a.vmid - b.vmid);
}
