import { isNotFound } from "../kube/api-error.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import { removeFinalizer } from "../kube/finalizers.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { ResolvedConnection } from "../vm/connection-resolver.js";
import type { VmIdAllocator } from "./vmid-allocator.js";

export interface DeletionDeps {
  vmIds: VmIdAllocator;
  events: EventRecorder;
  vms: CustomObjects<ProxmoxVMObject>;
}

/** The end of a deletion: the id reservation goes, an Event says what happened, the finalizer goes. */
export async function releaseDeletedVm(
  d: DeletionDeps,
  vm: ProxmoxVMObject,
  connection: ResolvedConnection | undefined,
  vmId: number | undefined,
  message: string,
  reason: string,
): Promise<void> {
  if (connection && vmId !== undefined) await d.vmIds.release(connection.uid, vm.metadata.uid, vmId);
  await d.events.record(vm, "Normal", reason, message);
  try {
    const fresh = await d.vms.get(vm.metadata.namespace, vm.metadata.name);
    if (fresh.metadata.uid === vm.metadata.uid) await removeFinalizer(d.vms, fresh);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

