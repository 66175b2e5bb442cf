import type { ProxmoxApiClient } from "../proxmox/api-client.js";
import { ownerUidOfTag } from "../synth/synthesize.js";
import { VM_ADDRESS } from "./tofu-session.js";

export type Adoption = { kind: "config"; configJson: string } | { kind: "foreign"; message: string };

/**
 * Crash recovery: the id is pinned in status and was free when pinned, so a VM with that id is
 * this ProxmoxVM's own. If a crashed run created it without recording it in state, the stack
 * adopts it with an `import` block (a no-op when the resource is already in state). A VM whose
 * ownership tag names another ProxmoxVM is never taken over. (VMs made before the tag existed
 * carry none: they are adopted as before.)
 */
export async function withAdoption(
  config: Record<string, unknown>,
  configJson: string,
  proxmox: ProxmoxApiClient,
  node: string,
  vmId: number,
  knownAbsent: boolean,
  ownerUid: string,
): Promise<Adoption> {
  if (knownAbsent) return { kind: "config", configJson };
  const found = await proxmox.vmConfig(node, vmId);
  if (!found) return { kind: "config", configJson };
  const owners = found.tags.map(ownerUidOfTag).filter((uid): uid is string => uid !== undefined);
  if (owners.length > 0 && !owners.includes(ownerUid)) {
    return {
      kind: "foreign",
      message: `VM ${vmId} (${found.name ?? "unnamed"}) on ${node} belongs to another ProxmoxVM (uid ${owners.join(", ")}): it is not taken over. If it is really this resource's VM, remove that tag; otherwise delete and re-apply this ProxmoxVM to give it a new VM id`,
    };
  }
  return { kind: "config", configJson: JSON.stringify({ ...config, import: [{ to: VM_ADDRESS, id: `${node}/${vmId}` }] }, null, 2) };
}
