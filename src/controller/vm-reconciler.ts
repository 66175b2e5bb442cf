import type { Logger } from "pino";
import { ConditionType, Reason } from "../api/conditions.js";
import { APPROVE_ANNOTATION } from "../api/group.js";
import { parseDuration } from "../config/env.js";
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ProxmoxVMStatus } from "../api/status.js";
import { isNotFound } from "../kube/api-error.js";
import { findCondition, setCondition } from "../kube/conditions.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../kube/finalizers.js";
import type { StatusWriter } from "../kube/status-writer.js";
import { parseKey, type ProxmoxVMObject } from "../kube/types.js";
import type { RunQueue } from "../jobs/run-queue.js";
import { ConnectionProblem, type ConnectionResolver } from "./connection-resolver.js";
import type { WorkResult } from "./work-queue.js";
import { describeSpecIssues } from "./spec-issues.js";
import type { StackHasher } from "./stack-hasher.js";

export interface VmReconcilerDeps {
  vms: CustomObjects<ProxmoxVMObject>;
  status: StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>;
  events: EventRecorder;
  connections: ConnectionResolver;
  queue: RunQueue;
  hasher: StackHasher;
  logger: Logger;
  driftIntervalMs: number;
  /** How long to wait before looking again at a VM that waits on something else. */
  waitRequeueMs?: number;
  /** Minimum pause after a failed run before the controller queues another. */
  failureBackoffMs?: number;
}

/**
 * Level-based: reads the ProxmoxVM as it is now, decides, acts. The event that woke it up does
 * not matter. Terraform runs happen on workers; the reconciler queues them and owns the
 * finalizer and the conditions that say why nothing runs (invalid spec, missing connection).
 */
export class VmReconciler {
  constructor(private readonly d: VmReconcilerDeps) {}

  async reconcile(key: string): Promise<WorkResult> {
    const { namespace, name } = parseKey(key);
    let vm: ProxmoxVMObject;
    try {
      vm = await this.d.vms.get(namespace, name);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    if (vm.metadata.deletionTimestamp) return this.reconcileDelete(vm);
    if (!hasFinalizer(vm)) vm = await addFinalizer(this.d.vms, vm);
    if (vm.spec.suspend) return this.markSuspended(vm);

    const parsed = ProxmoxVMSpecSchema.safeParse(vm.spec);
    if (!parsed.success) return this.markStalled(vm, Reason.InvalidSpec, describeSpecIssues(parsed.error));
    const spec = parsed.data;

    let endpoint: string;
    try {
      endpoint = (await this.d.connections.resolve(namespace, spec.connectionRef.name)).spec.endpoint;
    } catch (error) {
      if (error instanceof ConnectionProblem) return this.markWaiting(vm, error);
      throw error;
    }

    const hashed = this.d.hasher.hash(vm, spec, endpoint);
    if (!hashed.ok) return this.markStalled(vm, Reason.InvalidSpec, hashed.message);

    const status = vm.status ?? {};
    const generation = vm.metadata.generation ?? 0;
    const ready = findCondition(status.conditions, ConditionType.Ready);
    const upToDate = status.specHash === hashed.hash && status.observedGeneration === generation && ready?.status === "True";
    if (upToDate) return this.scheduleDriftCheck(vm, spec);
    if (status.specHash === hashed.hash && ready?.status === "True") {
      // A new generation that synthesizes to the same stack (e.g. only operator settings
      // changed): nothing for Terraform to do, the status now describes this generation.
      await this.markObserved(vm, generation);
      return this.scheduleDriftCheck(vm, spec);
    }

    const synced = findCondition(status.conditions, ConditionType.Synced);
    if (spec.managementPolicy === "ObserveOnly" && synced?.status === "False" && synced.reason === Reason.DriftDetected && synced.observedGeneration === generation) {
      // Observed and reported; an observe-only VM is never changed, so look again at the next drift check.
      return this.scheduleDriftCheck(vm, spec);
    }

    const stalled = findCondition(status.conditions, ConditionType.Stalled);
    if (stalled?.status === "True" && stalled.observedGeneration === generation && status.lastRun?.result === "failed") {
      // A run for this generation failed in a way retrying cannot fix: wait for a spec change.
      return;
    }
    if (spec.approval === "Manual" && status.pendingApproval?.hash === hashed.hash && approvedHash(vm) !== hashed.hash) {
      // The plan for this spec waits for a person; the annotation (or a spec change) moves on.
      return;
    }
    const sinceFailure = status.lastRun?.result === "failed" && status.lastRun.finishedAt ? Date.now() - Date.parse(status.lastRun.finishedAt) : Infinity;
    const backoff = this.d.failureBackoffMs ?? 60_000;
    if (sinceFailure < backoff) return { requeueAfterMs: backoff - sinceFailure };

    await this.queueRun(vm, approvedHash(vm) === hashed.hash ? "approved" : status.vmId ? "update" : "create");
    return;
  }

  private async reconcileDelete(vm: ProxmoxVMObject): Promise<WorkResult> {
    if (!hasFinalizer(vm)) return;
    const { namespace, name } = vm.metadata;
    const neverCreated = vm.status?.vmId === undefined && !vm.status?.specHash;
    const runPending = (await this.d.queue.queue.getJob(vm.metadata.uid)) !== undefined;
    if (neverCreated && !runPending) {
      this.d.logger.info({ vm: `${namespace}/${name}` }, "deleting a VM that was never created: removing the finalizer");
      await removeFinalizer(this.d.vms, vm);
      return;
    }
    if (vm.spec.deletionPolicy !== "Orphan") {
      try {
        await this.d.connections.resolve(namespace, vm.spec.connectionRef?.name ?? "");
      } catch (error) {
        if (error instanceof ConnectionProblem) {
          await this.d.status.update(namespace, name, (s) => ({
            ...s,
            state: "Deleting",
            conditions: setCondition(s.conditions, {
              type: ConditionType.Ready,
              status: "False",
              reason: error.reason === "InvalidSpec" ? Reason.InvalidSpec : (error.reason as Reason),
              message: `cannot delete the VM: ${error.message}. Restore it, or set spec.deletionPolicy: Orphan to delete the resource and keep the VM (see README: "Stuck deleting")`,
            }),
          }));
          return { requeueAfterMs: this.d.waitRequeueMs ?? 30_000 };
        }
        throw error;
      }
    }
    await this.queueRun(vm, "delete");
    return;
  }

  private async queueRun(vm: ProxmoxVMObject, reason: string): Promise<void> {
    const { namespace, name, uid } = vm.metadata;
    const added = await this.d.queue.enqueue({ namespace, name, uid, reason });
    if (!added) return;
    this.d.logger.info({ vm: `${namespace}/${name}`, reason }, "queued a run");
    const deleting = reason === "delete";
    // A drift check does not make a Ready VM less ready; Reconciling says a check runs. (Lowering
    // Ready here made the next reconcile see "not up to date" and apply what Report mode only reports.)
    const checkingDrift = reason === "drift";
    await this.d.status.update(
      namespace,
      name,
      (s) => {
        let conditions = setCondition(s.conditions, {
          type: ConditionType.Reconciling,
          status: "True",
          reason: deleting ? Reason.Deleting : Reason.Queued,
          message: deleting ? "a destroy run is queued" : `a run is queued (${reason})`,
          observedGeneration: vm.metadata.generation,
        });
        const ready = findCondition(conditions, ConditionType.Ready);
        if (!checkingDrift && (!ready || ready.status !== "False" || deleting)) {
          conditions = setCondition(conditions, {
            type: ConditionType.Ready,
            status: deleting ? "False" : ready?.status === "True" ? "Unknown" : (ready?.status ?? "Unknown"),
            reason: deleting ? Reason.Deleting : Reason.Queued,
            message: deleting ? "deleting the VM" : "waiting for a worker",
          });
        }
        conditions = setCondition(conditions, { type: ConditionType.Stalled, status: "False", reason: Reason.Queued, message: "" });
        return { ...s, state: deleting ? "Deleting" : s.vmId ? (s.state ?? "Pending") : "Pending", conditions };
      },
      uid,
    );
  }

  private async scheduleDriftCheck(vm: ProxmoxVMObject, spec: ProxmoxVMSpec): Promise<WorkResult> {
    const interval = spec.driftDetection?.interval ? Math.max(parseDuration(spec.driftDetection.interval), 60_000) : this.d.driftIntervalMs;
    const last = vm.status?.lastRun?.finishedAt ? Date.parse(vm.status.lastRun.finishedAt) : 0;
    const due = last + interval - Date.now();
    if (due > 0) return { requeueAfterMs: due };
    await this.queueRun(vm, "drift");
    return { requeueAfterMs: interval };
  }

  private async markObserved(vm: ProxmoxVMObject, generation: number): Promise<void> {
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => ({
        ...s,
        observedGeneration: generation,
        conditions: (s.conditions ?? []).map((c) =>
          c.observedGeneration === undefined
            ? c
            : { ...c, observedGeneration: generation, message: c.message.replace(/matches generation [0-9]+$/, `matches generation ${generation}`) },
        ),
      }),
      vm.metadata.uid,
    );
  }

  private async markSuspended(vm: ProxmoxVMObject): Promise<WorkResult> {
    await this.d.status.update(vm.metadata.namespace, vm.metadata.name, (s) => ({
      ...s,
      conditions: setCondition(s.conditions, {
        type: ConditionType.Reconciling,
        status: "False",
        reason: Reason.Suspended,
        message: "spec.suspend is true: the operator does not change this VM",
        observedGeneration: vm.metadata.generation,
      }),
    }));
  }

  private async markStalled(vm: ProxmoxVMObject, reason: Reason, message: string): Promise<WorkResult> {
    const generation = vm.metadata.generation;
    await this.d.status.update(vm.metadata.namespace, vm.metadata.name, (s) => {
      let conditions = setCondition(s.conditions, { type: ConditionType.Stalled, status: "True", reason, message, observedGeneration: generation });
      conditions = setCondition(conditions, { type: ConditionType.Ready, status: "False", reason, message, observedGeneration: generation });
      conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason, message: "", observedGeneration: generation });
      return { ...s, state: "Failed", observedGeneration: generation, conditions };
    });
    await this.d.events.record(vm, "Warning", reason, message);
  }

  private async markWaiting(vm: ProxmoxVMObject, problem: ConnectionProblem): Promise<WorkResult> {
    const generation = vm.metadata.generation;
    const reason = problem.reason === "InvalidSpec" ? Reason.InvalidSpec : (problem.reason as Reason);
    const before = findCondition(vm.status?.conditions, ConditionType.Ready);
    await this.d.status.update(vm.metadata.namespace, vm.metadata.name, (s) => {
      let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message: problem.message, observedGeneration: generation });
      conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason, message: "", observedGeneration: generation });
      return { ...s, state: s.vmId ? s.state : "Pending", observedGeneration: generation, conditions };
    });
    if (before?.reason !== reason) await this.d.events.record(vm, "Warning", reason, problem.message);
    // The connection informer wakes this VM when the connection appears; this is the safety net.
    return { requeueAfterMs: this.d.waitRequeueMs ?? 30_000 };
  }
}

function approvedHash(vm: ProxmoxVMObject): string | undefined {
  return vm.metadata.annotations?.[APPROVE_ANNOTATION];
}

