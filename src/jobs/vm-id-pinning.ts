import type { Logger } from "pino";
import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { ProxmoxApiClient } from "../proxmox/api-client.js";
import type { ResolvedConnection } from "../vm/connection-resolver.js";
import { vmIdPinned, type StatusChange } from "../vm/status.js";
import type { VmIdAllocator } from "./vmid-allocator.js";

export type VmIdPin =
  /**
   * `knownAbsent`: this run has just seen that no VM has the id. Terraform never ran with an id
   * that was not pinned in status yet, so there is nothing to adopt and no need to ask again.
   */
  | {
      kind: "pinned";
      vm: ProxmoxVMObject;
      vmId: number;
      knownAbsent: boolean;
      /** The status change that records a new id: the run writes it with its first progress, before tofu runs. */
      pin?: StatusChange;
    }
  /** A user-chosen spec.vmId that another VM already has. */
  | { kind: "taken"; message: string };

export interface VmIdPinningDeps {
  vmIds: VmIdAllocator;
  vms: CustomObjects<ProxmoxVMObject>;
}

/**
 * Chooses the VM id the run pins in status before Terraform can create anything, so no retry or
 * crash makes a second VM: the id in status, else spec.vmId (if free), else a fresh one reserved
 * in Redis (the reservation holds it until the status write).
 */
export async function pinVmId(
  d: VmIdPinningDeps,
  vm: ProxmoxVMObject,
  spec: ProxmoxVMSpec,
  connection: ResolvedConnection,
  proxmox: ProxmoxApiClient,
  log: Logger,
): Promise<VmIdPin> {
  const recorded = vm.status?.vmId;
  let vmId: number;
  let knownAbsent = false;
  if (recorded !== undefined) {
    vmId = recorded;
    await d.vmIds.claim(connection.uid, vm.metadata.uid, vmId);
  } else if (spec.vmId !== undefined) {
    vmId = spec.vmId;
    if (await proxmox.vmExists(spec.nodeName, vmId)) {
      // Taking that VM over would be a surprise.
      return { kind: "taken", message: `spec.vmId ${vmId}: a VM with this id already exists on ${spec.nodeName}; choose a free id or leave vmId unset` };
    }
    knownAbsent = true;
    await d.vmIds.claim(connection.uid, vm.metadata.uid, vmId);
  } else {
    vmId = await d.vmIds.allocate(connection.uid, vm.metadata.uid, proxmox, await idsPinnedByOthers(d, vm));
    knownAbsent = true;
    log.info({ vmId }, "allocated a VM id");
  }
  if (recorded === vmId) return { kind: "pinned", vm, vmId, knownAbsent };
  return { kind: "pinned", vm, vmId, knownAbsent, pin: vmIdPinned(vmId, spec.nodeName) };
}

/**
 * The VM ids other ProxmoxVMs of the namespace have pinned in status or chosen in spec. The Redis
 * reservations are lost with Redis (a restart without persistence, a flush), while an id pinned
 * in status whose VM is not made yet (or is half-cloned) still looks free on Proxmox: without
 * this, a second resource could be given the same id and adopt the first one's VM.
 */
async function idsPinnedByOthers(d: VmIdPinningDeps, vm: ProxmoxVMObject): Promise<Set<number>> {
  const pinned = new Set<number>();
  for (const other of (await d.vms.list(vm.metadata.namespace)).items) {
    if (other.metadata.uid === vm.metadata.uid) continue;
    if (other.status?.vmId !== undefined) pinned.add(other.status.vmId);
    if (other.spec?.vmId !== undefined) pinned.add(other.spec.vmId);
  }
  return pinned;
}
