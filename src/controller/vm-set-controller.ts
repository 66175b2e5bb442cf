import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { API_GROUP, API_VERSION } from "../api/group.js";
import { PROXMOX_VM_SET } from "../api/proxmox-vm-set.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import { ResilientInformer } from "../kube/resilient-informer.js";
import { keyOf, type ProxmoxVMObject } from "../kube/types.js";
import { owningSet, type ProxmoxVMSetObject, type VmSetReconciler } from "./vm-set-reconciler.js";
import { WorkQueue } from "./work-queue.js";

export interface VmSetControllerOptions {
  kubeConfig: KubeConfig;
  sets: CustomObjects<ProxmoxVMSetObject>;
  reconciler: VmSetReconciler;
  logger: Logger;
  /** The namespaces to manage (as PTM_NAMESPACE names them); undefined = all. */
  namespaces?: readonly string[];
  resyncIntervalMs: number;
}

/**
 * ProxmoxVMSets' informer and work queue. A set is reconciled when its spec, deletion or
 * finalizers change (its own status writes are dropped), on resync, and whenever one of its VMs
 * changes: the VM controller's informer reports those through `vmChanged`, so VMs are not
 * watched twice.
 */
export class VmSetController {
  private readonly informer: ResilientInformer<ProxmoxVMSetObject>;
  private readonly queue: WorkQueue;
  private readonly seen = new Map<string, string>();

  constructor(private readonly o: VmSetControllerOptions) {
    // One namespace: a namespaced list and watch; several: a cluster-wide one, filtered here.
    const single = o.namespaces?.length === 1 ? o.namespaces[0] : undefined;
    const base = `/apis/${API_GROUP}/${API_VERSION}${single ? `/namespaces/${single}` : ""}`;
    this.queue = new WorkQueue({
      concurrency: 2,
      process: (key) => o.reconciler.reconcile(key),
      onError: (key, error) => o.logger.warn({ err: error, vmSet: key }, "VM set reconcile failed; retrying with backoff"),
    });
    this.informer = new ResilientInformer<ProxmoxVMSetObject>({
      kubeConfig: o.kubeConfig,
      path: `${base}/${PROXMOX_VM_SET.plural}`,
      list: () => o.sets.list(single),
      onChange: (set, kind) => this.onSetChange(set, kind),
      resyncIntervalMs: o.resyncIntervalMs,
      logger: o.logger,
      name: PROXMOX_VM_SET.plural,
    });
  }

  async start(): Promise<void> {
    await this.informer.start();
    await this.informer.waitForSync();
    this.o.logger.info({ vmSets: this.informer.list().length }, "VM set controller started");
  }

  async stop(): Promise<void> {
    await this.informer.stop();
    await this.queue.shutdown();
  }

  /** A ProxmoxVM was added, changed or deleted: its set (if any) looks again. */
  vmChanged(vm: ProxmoxVMObject): void {
    const set = owningSet(vm);
    if (set) this.queue.add(`${vm.metadata.namespace}/${set}`);
  }

  private onSetChange(set: ProxmoxVMSetObject, kind: "add" | "update" | "delete" | "resync"): void {
    if (this.o.namespaces && !this.o.namespaces.includes(set.metadata.namespace)) return;
    const key = keyOf(set);
    if (kind === "delete") {
      this.seen.delete(key);
      return;
    }
    const fingerprint = JSON.stringify([set.metadata.generation, set.metadata.deletionTimestamp ?? null, set.metadata.finalizers ?? []]);
    if (kind === "update" && this.seen.get(key) === fingerprint) return;
    this.seen.set(key, fingerprint);
    this.queue.add(key);
  }
}
