import type { KubeConfig } from "@kubernetes/client-node";
import type { QueueEvents } from "bullmq";
import type { Logger } from "pino";
import { API_GROUP, API_VERSION, APPROVE_ANNOTATION, PROXMOX_CONNECTION, PROXMOX_VM } from "../api/group.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import { ResilientInformer } from "../kube/resilient-informer.js";
import { keyOf, type ProxmoxConnectionObject, type ProxmoxVMObject } from "../kube/types.js";
import type { ConnectionReconciler } from "./connection-reconciler.js";
import type { VmReconciler } from "./vm-reconciler.js";
import { WorkQueue } from "./work-queue.js";
import { describeWatched, type WatchedNamespaces } from "../config/namespaces.js";

/** A requeue at least this far ahead reads the VM from the informer cache (see readMode). */
const CACHED_REQUEUE_MIN_MS = 10_000;

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  vms: CustomObjects<ProxmoxVMObject>;
  connections: CustomObjects<ProxmoxConnectionObject>;
  reconciler: VmReconciler;
  /** Checks connections' health and inventory; VMs wait on it. */
  connectionReconciler: ConnectionReconciler;
  queueEvents: QueueEvents;
  logger: Logger;
  /** The namespaces to manage (PTM_NAMESPACE, src/config/namespaces.ts); undefined = all. */
  namespaces?: WatchedNamespaces;
  resyncIntervalMs: number;
  concurrency?: number;
  onReconcile?: (result: "success" | "error" | "requeue", seconds: number) => void;
  /** Every ProxmoxVM the informer sees added, changed (status too) or deleted; not resyncs. Must not block. */
  onVmEvent?: (vm: ProxmoxVMObject, kind: "upsert" | "delete") => void;
}

/**
 * Wires the informers to the keyed work queue. Informer callbacks only enqueue keys; the
 * reconciler reads the object itself. Updates that change nothing but status (our own writes)
 * are dropped here by comparing generation, deletion and finalizers, or the operator would
 * reconcile in a loop.
 */
export class Controller {
  private readonly vmInformer: ResilientInformer<ProxmoxVMObject>;
  private readonly connectionInformer: ResilientInformer<ProxmoxConnectionObject>;
  private readonly queue: WorkQueue;
  private readonly connectionQueue: WorkQueue;
  private readonly seen = new Map<string, string>();
  private readonly seenConnections = new Map<string, { generation: string; health: string }>();
  private readonly keysByUid = new Map<string, string>();
  /**
   * How a queued key's next reconcile reads its VM: "cache" when only a periodic resync queued it
   * (the informer's copy is then as fresh as anything), "fresh" once an event or a finished run
   * did (a worker's status write may not have reached the cache yet). Timer requeues read fresh,
   * unless they were asked for CACHED_REQUEUE_MIN_MS or more ahead.
   */
  private readonly readMode = new Map<string, "cache" | "fresh">();

  constructor(private readonly o: ControllerOptions) {
    // One namespace: a namespaced list and watch (a namespaced Role suffices). Several: one
    // cluster-wide list and watch whose other namespaces the informers drop.
    const single = o.namespaces?.length === 1 ? o.namespaces[0] : undefined;
    const filter = o.namespaces && o.namespaces.length > 1 ? { namespaces: o.namespaces } : {};
    const base = `/apis/${API_GROUP}/${API_VERSION}${single ? `/namespaces/${single}` : ""}`;
    this.queue = new WorkQueue({
      concurrency: o.concurrency ?? 4,
      process: async (key) => {
        const started = performance.now();
        try {
          const result = await o.reconciler.reconcile(key, { fromCache: this.takeReadMode(key) === "cache" });
          o.onReconcile?.(result?.requeueAfterMs !== undefined ? "requeue" : "success", (performance.now() - started) / 1000);
          // A look again this far off (a drift check due, a wait) finds the informer's copy as
          // fresh as a GET would; an event or a finished run in between asks for a fresh read.
          if (result?.requeueAfterMs !== undefined && result.requeueAfterMs >= CACHED_REQUEUE_MIN_MS && !this.readMode.has(key)) this.readMode.set(key, "cache");
          return result;
        } catch (error) {
          o.onReconcile?.("error", (performance.now() - started) / 1000);
          throw error;
        }
      },
      onError: (key, error) => o.logger.warn({ err: error, vm: key }, "reconcile failed; retrying with backoff"),
    });
    this.connectionQueue = new WorkQueue({
      concurrency: 2,
      process: (key) => o.connectionReconciler.reconcile(key),
      onError: (key, error) => o.logger.warn({ err: error, connection: key }, "connection check failed; retrying with backoff"),
    });
    this.vmInformer = new ResilientInformer<ProxmoxVMObject>({
      kubeConfig: o.kubeConfig,
      path: `${base}/${PROXMOX_VM.plural}`,
      list: () => o.vms.list(single),
      ...filter,
      onChange: (vm, kind) => this.onVmChange(vm, kind),
      resyncIntervalMs: o.resyncIntervalMs,
      logger: o.logger,
      name: PROXMOX_VM.plural,
    });
    this.connectionInformer = new ResilientInformer<ProxmoxConnectionObject>({
      kubeConfig: o.kubeConfig,
      path: `${base}/${PROXMOX_CONNECTION.plural}`,
      list: () => o.connections.list(single),
      ...filter,
      onChange: (connection, kind) => this.onConnectionChange(connection, kind),
      resyncIntervalMs: o.resyncIntervalMs,
      logger: o.logger,
      name: PROXMOX_CONNECTION.plural,
    });
    // A finished run may leave work behind (the spec changed while it ran): look again.
    o.queueEvents.on("completed", ({ jobId }) => this.enqueueUid(jobId));
    o.queueEvents.on("failed", ({ jobId }) => this.enqueueUid(jobId));
  }

  get vmCache(): ResilientInformer<ProxmoxVMObject> {
    return this.vmInformer;
  }

  get connectionCache(): ResilientInformer<ProxmoxConnectionObject> {
    return this.connectionInformer;
  }

  async start(): Promise<void> {
    await Promise.all([this.vmInformer.start(), this.connectionInformer.start()]);
    await Promise.all([this.vmInformer.waitForSync(), this.connectionInformer.waitForSync()]);
    this.o.logger.info({ vms: this.vmInformer.list().length, watching: describeWatched(this.o.namespaces) }, "controller started");
  }

  async stop(): Promise<void> {
    await Promise.all([this.vmInformer.stop(), this.connectionInformer.stop()]);
    await Promise.all([this.queue.shutdown(), this.connectionQueue.shutdown()]);
  }

  private onVmChange(vm: ProxmoxVMObject, kind: "add" | "update" | "delete" | "resync"): void {
    if (kind !== "resync") this.o.onVmEvent?.(vm, kind === "delete" ? "delete" : "upsert");
    const key = keyOf(vm);
    if (kind === "delete") {
      this.seen.delete(key);
      this.readMode.delete(key);
      this.keysByUid.delete(vm.metadata.uid);
      this.o.reconciler.forgetVm(vm.metadata.uid);
      return;
    }
    this.keysByUid.set(vm.metadata.uid, key);
    if (kind === "resync") {
      if (this.readMode.get(key) !== "fresh") this.readMode.set(key, "cache");
      this.queue.add(key);
      return;
    }
    const fingerprint = JSON.stringify([
      vm.metadata.generation,
      vm.metadata.deletionTimestamp ?? null,
      vm.metadata.finalizers ?? [],
      vm.metadata.annotations?.[APPROVE_ANNOTATION] ?? null,
    ]);
    if (kind === "update" && this.seen.get(key) === fingerprint) return;
    this.seen.set(key, fingerprint);
    this.enqueueFresh(key);
  }

  private enqueueUid(uid: string): void {
    const key = this.keysByUid.get(uid);
    if (key) this.enqueueFresh(key);
  }

  /** Something happened to the VM (an event, a finished run): reconcile from a fresh read. */
  private enqueueFresh(key: string): void {
    this.readMode.set(key, "fresh");
    this.queue.add(key);
  }

  private takeReadMode(key: string): "cache" | "fresh" {
    const mode = this.readMode.get(key) ?? "fresh";
    this.readMode.delete(key);
    return mode;
  }

  /**
   * A spec change (or a new connection) is checked at once; a change of what the check found
   * (Ready, its reason, the inventory) wakes the connection's VMs. The check's own timestamp
   * changes every few minutes and wakes nothing.
   */
  private onConnectionChange(connection: ProxmoxConnectionObject, kind: "add" | "update" | "delete" | "resync"): void {
    const key = keyOf(connection);
    if (kind === "delete") {
      this.seenConnections.delete(key);
      this.o.reconciler.forgetConnection(connection.metadata.namespace!, connection.metadata.name!);
      this.enqueueVmsOf(connection);
      return;
    }
    const generation = String(connection.metadata.generation);
    const ready = connection.status?.conditions?.find((c) => c.type === "Ready");
    const health = JSON.stringify([ready?.status, ready?.reason, ready?.message, ready?.observedGeneration, connection.status?.inventory, connection.status?.missingPrivileges]);
    const seen = this.seenConnections.get(key);
    this.seenConnections.set(key, { generation, health });
    if (!seen || seen.generation !== generation) this.connectionQueue.add(key);
    if (!seen || seen.generation !== generation || seen.health !== health) this.enqueueVmsOf(connection);
  }

  /** A VM asks for its connection to be checked again (a run met an auth or network failure). */
  recheckConnection(namespace: string, name: string): void {
    this.connectionQueue.add(`${namespace}/${name}`);
  }

  private enqueueVmsOf(connection: ProxmoxConnectionObject): void {
    for (const vm of this.vmInformer.list(connection.metadata.namespace)) {
      if (vm.spec?.connectionRef?.name === connection.metadata.name) this.enqueueFresh(keyOf(vm));
    }
  }
}
