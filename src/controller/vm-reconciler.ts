import type { Logger } from "pino";
import { ConditionType, Reason } from "../api/conditions.js";
import { APPROVE_ANNOTATION } from "../api/group.js";
import { parseDuration } from "../config/env.js";
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ProxmoxVMStatus } from "../api/status.js";
import { isNotFound } from "../kube/api-error.js";
import { findCondition } from "../kube/conditions.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../kube/finalizers.js";
import type { StatusWriter } from "../kube/status-writer.js";
import { parseKey, type ProxmoxVMObject } from "../kube/types.js";
import type { RunQueue, RunReason } from "../queue/run-queue.js";
import { ConnectionProblem, type ConnectionResolver, type ResolvedConnection } from "../vm/connection-resolver.js";
import { jittered } from "./jitter.js";
import { CONNECTION_FAILURES, type RunGate } from "./run-gate.js";
import type { WorkResult } from "./work-queue.js";
import { describeSpecIssues } from "../vm/spec-issues.js";
import type { StackHasher } from "../vm/stack-hasher.js";
import type { DigestDriftProbe } from "../vm/drift-probe.js";
import type { PlanStore } from "../store/plan-store.js";
import { discardPlan, discardRequested, isApproved } from "./plan-approval.js";
import * as vmStatus from "../vm/status.js";
import { appliedAtEarlierGeneration, isUpToDate } from "../vm/status.js";

export interface VmReconcilerDeps {
  vms: CustomObjects<ProxmoxVMObject>;
  status: StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>;
  events: EventRecorder;
  connections: ConnectionResolver;
  queue: RunQueue;
  hasher: StackHasher;
  /** Kept plans: a discarded one's file is dropped. */
  plans?: PlanStore;
  logger: Logger;
  driftIntervalMs: number;
  /**
   * Looks at a VM's config digest, node and power state before a drift check plans; without it
   * every drift check plans. A VM found unchanged costs no tofu process.
   */
  driftProbe?: DigestDriftProbe;
  /** The longest a VM goes without a full drift plan (for what its config file does not hold). Default 24 h. */
  driftBackstopMs?: number;
  /** Counts drift checks: unchanged (no plan), changed, unknown (Proxmox did not answer), full (no digest kept, or the backstop). */
  onDriftCheck?: (result: DriftCheckResult) => void;
  /** How long to wait before looking again at a VM that waits on something else. */
  waitRequeueMs?: number;
  /** Minimum pause after a failed run before the controller queues another. */
  failureBackoffMs?: number;
  /** Connection readiness and preflight, checked before a run is queued. */
  gate: RunGate;
  /** The controller's informer cache of ProxmoxVMs, which a resync reads instead of the API. */
  vmCache?: (namespace: string, name: string) => ProxmoxVMObject | undefined;
}

export interface ReconcileOptions {
  /** A periodic resync: an unchanged VM is answered from the informer cache. */
  fromCache?: boolean;
}

export type DriftCheckResult = "unchanged" | "changed" | "unknown" | "full";

/** The cached object cannot settle it: read the VM from the API and decide afresh. */
const READ_AFRESH = Symbol("read afresh");

/**
 * Level-based: reads the ProxmoxVM as it is now, decides, acts. The event that woke it up does
 * not matter. Terraform runs happen on workers; the reconciler queues them and owns the
 * finalizer and the conditions that say why nothing runs (invalid spec, missing connection).
 */
export class VmReconciler {
  /** When each VM's config digest was last found unchanged (kept in memory: a restart looks again). */
  private readonly digestCheckedAt = new Map<string, number>();

  constructor(private readonly d: VmReconcilerDeps) {}

  /** A deleted VM: its memoised hash and its last digest check go. */
  forgetVm(uid: string): void {
    this.d.hasher.forget(uid);
    this.digestCheckedAt.delete(uid);
  }

  /** A deleted connection: its kept token and its drift look go. */
  forgetConnection(namespace: string, name: string): void {
    this.d.connections.forget(namespace, name);
    this.d.driftProbe?.clear();
  }

  async reconcile(key: string, options: ReconcileOptions = {}): Promise<WorkResult> {
    const { namespace, name } = parseKey(key);
    const cached = options.fromCache ? this.d.vmCache?.(namespace, name) : undefined;
    if (cached) {
      const atRest = await this.reconcileAtRest(cached);
      if (atRest !== READ_AFRESH) return atRest;
    }
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

    let connection: ResolvedConnection;
    try {
      connection = await this.d.connections.resolve(namespace, spec.connectionRef.name);
    } catch (error) {
      if (error instanceof ConnectionProblem) return this.markWaiting(vm, error.reason, error.message);
      throw error;
    }

    const hashed = this.d.hasher.hash(vm, spec, connection.spec.endpoint);
    if (!hashed.ok) return this.markStalled(vm, Reason.InvalidSpec, hashed.message);

    const status = vm.status ?? {};
    const generation = vm.metadata.generation ?? 0;
    if (isUpToDate(vm, hashed.hash)) {
      // A drift plan waits for approval (driftDetection Report, approval Manual).
      if (status.pendingPlan && isApproved(vm)) return this.queueRun(vm, "approved");
      if (discardRequested(vm)) return this.discard(vm);
      return this.scheduleDriftCheck(vm, spec, connection);
    }
    if (appliedAtEarlierGeneration(vm, hashed.hash)) {
      // A new generation that synthesizes to the same stack (e.g. only operator settings
      // changed): nothing for Terraform to do, the status now describes this generation.
      await this.writeStatus(vm, vmStatus.observed(generation));
      return this.scheduleDriftCheck(vm, spec, connection);
    }

    const synced = findCondition(status.conditions, ConditionType.Synced);
    if (spec.managementPolicy === "ObserveOnly" && synced?.status === "False" && synced.reason === Reason.DriftDetected && synced.observedGeneration === generation) {
      // Observed and reported; an observe-only VM is never changed, so look again at the next drift check.
      return this.scheduleDriftCheck(vm, spec, connection);
    }

    const stalled = findCondition(status.conditions, ConditionType.Stalled);
    if (stalled?.status === "True" && stalled.observedGeneration === generation && status.lastRun?.result === "failed" && !CONNECTION_FAILURES.has(stalled.reason)) {
      // A run for this generation failed in a way retrying cannot fix: wait for a spec change.
      // (A failure of the connection itself is retried once a new check finds it Ready.)
      return;
    }
    if (spec.approval === "Manual" && status.pendingApproval?.hash === hashed.hash && !isApproved(vm)) {
      // The plan for this spec waits for a person; the annotation (or a spec change) moves on.
      if (discardRequested(vm)) return this.discard(vm);
      return;
    }
    const sinceFailure = status.lastRun?.result === "failed" && status.lastRun.finishedAt ? Date.now() - Date.parse(status.lastRun.finishedAt) : Infinity;
    const backoff = this.d.failureBackoffMs ?? 60_000;
    if (sinceFailure < backoff) return { requeueAfterMs: backoff - sinceFailure };

    const gate = await this.d.gate.check(vm, spec, connection);
    if (gate.kind === "wait") return this.markWaiting(vm, gate.reason, gate.message, gate.requeueAfterMs);
    if (gate.kind === "closed") return this.markPreflightFailed(vm, gate.reason, gate.message);

    await this.queueRun(vm, approvedHash(vm) === hashed.hash || isApproved(vm) ? "approved" : status.vmId ? "update" : "create");
    return;
  }

  /**
   * What nearly every resync meets: a VM whose applied stack is its current one. Answered from
   * the informer cache (no GET of the VM, the connection or its Secret; the hash memoised).
   * Anything else (a finalizer, a condition to write, a run to queue) is decided again on a
   * fresh read, because the cache may not yet hold our own or a worker's latest write. A drift
   * check that is due is scheduled from the cached copy: the controller only reads with
   * `fromCache` on a periodic resync, never right after a run finished.
   */
  private async reconcileAtRest(vm: ProxmoxVMObject): Promise<WorkResult | typeof READ_AFRESH> {
    if (vm.metadata.deletionTimestamp || !hasFinalizer(vm) || vm.spec?.suspend) return READ_AFRESH;
    const parsed = ProxmoxVMSpecSchema.safeParse(vm.spec);
    if (!parsed.success) return READ_AFRESH;
    let connection: ResolvedConnection;
    try {
      connection = await this.d.connections.resolve(vm.metadata.namespace, parsed.data.connectionRef.name);
    } catch (error) {
      if (error instanceof ConnectionProblem) return READ_AFRESH;
      throw error;
    }
    const hashed = this.d.hasher.hash(vm, parsed.data, connection.spec.endpoint);
    if (!hashed.ok || !isUpToDate(vm, hashed.hash)) return READ_AFRESH;
    return this.scheduleDriftCheck(vm, parsed.data, connection);
  }

  private async reconcileDelete(vm: ProxmoxVMObject): Promise<WorkResult> {
    if (!hasFinalizer(vm)) return;
    const { namespace, name } = vm.metadata;
    const neverCreated = vm.status?.vmId === undefined && !vm.status?.specHash;
    const runPending = await this.d.queue.has(vm.metadata.uid);
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
          const message = `cannot delete the VM: ${error.message}. Restore it, or set spec.deletionPolicy: Orphan to delete the resource and keep the VM (see README: "Stuck deleting")`;
          await this.writeStatus(vm, vmStatus.deletionBlocked(error.reason, message));
          return { requeueAfterMs: this.d.waitRequeueMs ?? 30_000 };
        }
        throw error;
      }
    }
    await this.queueRun(vm, "delete");
    return;
  }

  private async queueRun(vm: ProxmoxVMObject, reason: RunReason): Promise<void> {
    const { namespace, name, uid } = vm.metadata;
    const added = await this.d.queue.enqueue({ namespace, name, uid, reason });
    if (!added) return;
    this.d.logger.info({ vm: `${namespace}/${name}`, reason }, "queued a run");
    await this.writeStatus(vm, vmStatus.queued(vm.metadata.generation, reason));
  }

  private async scheduleDriftCheck(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection): Promise<WorkResult> {
    const interval = spec.driftDetection?.interval ? Math.max(parseDuration(spec.driftDetection.interval), 60_000) : this.d.driftIntervalMs;
    const lastRun = vm.status?.lastRun?.finishedAt ? Date.parse(vm.status.lastRun.finishedAt) : 0;
    const lastLook = Math.max(lastRun, this.digestCheckedAt.get(vm.metadata.uid) ?? 0);
    const due = lastLook + interval - Date.now();
    if (due > 0) return { requeueAfterMs: jittered(due) };
    // A drift check waits quietly while the connection or node is unavailable: the VM stays as
    // Ready as it was (a plan against an offline node would only fail).
    if ((await this.d.gate.check(vm, spec, connection)).kind !== "open") return { requeueAfterMs: jittered(this.d.waitRequeueMs ?? 30_000) };
    if (await this.unchangedOnProxmox(vm, connection, lastRun)) return { requeueAfterMs: jittered(interval) };
    await this.queueRun(vm, "drift");
    return { requeueAfterMs: jittered(interval) };
  }

  /**
   * True when the VM's config digest, node and power state are those its last run recorded and
   * the full-plan backstop is not due: the drift check ends here, without tofu. Anything else
   * (a change, no record, Proxmox not answering) leaves it to a plan, as drift checks always did.
   */
  private async unchangedOnProxmox(vm: ProxmoxVMObject, connection: ResolvedConnection, lastRun: number): Promise<boolean> {
    const observed = vm.status?.observed;
    const vmId = vm.status?.vmId;
    const backstopDue = lastRun + (this.d.driftBackstopMs ?? 24 * 3_600_000) <= Date.now();
    // After a failed run the record says nothing about what that run may have left: plan.
    const lastFailed = vm.status?.lastRun?.result === "failed";
    if (!this.d.driftProbe || !observed || vmId === undefined || backstopDue || lastFailed) {
      this.d.onDriftCheck?.("full");
      return false;
    }
    const verdict = await this.d.driftProbe.check(connection, vmId, observed);
    this.d.onDriftCheck?.(verdict.kind);
    const key = `${vm.metadata.namespace}/${vm.metadata.name}`;
    if (verdict.kind === "unchanged") {
      this.digestCheckedAt.set(vm.metadata.uid, Date.now());
      return true;
    }
    if (verdict.kind === "changed") this.d.logger.info({ vm: key, vmId }, `drift check: ${verdict.what}; planning`);
    else this.d.logger.warn({ vm: key, vmId }, `drift check: could not compare the config digest (${verdict.why}); planning`);
    return false;
  }

  /** A person discarded the pending plan (the discard annotation names its run): nothing is applied. */
  private async discard(cached: ProxmoxVMObject): Promise<WorkResult> {
    const vm = await this.d.vms.get(cached.metadata.namespace, cached.metadata.name);
    const runId = discardRequested(vm);
    if (!runId) return;
    const discarded = await discardPlan(this.d.plans, vm, runId);
    await this.writeStatus(vm, discarded.change);
    await this.d.events.record(vm, "Normal", Reason.PlanDiscarded, discarded.message);
  }

  private async markSuspended(vm: ProxmoxVMObject): Promise<WorkResult> {
    await this.writeStatus(vm, vmStatus.suspended(vm.metadata.generation));
  }

  private async markStalled(vm: ProxmoxVMObject, reason: Reason, message: string): Promise<WorkResult> {
    await this.writeStatus(vm, vmStatus.stalled(vm.metadata.generation, reason, message));
    await this.d.events.record(vm, "Warning", reason, message);
  }

  private async markWaiting(vm: ProxmoxVMObject, reason: Reason, message: string, requeueAfterMs?: number): Promise<WorkResult> {
    const before = findCondition(vm.status?.conditions, ConditionType.Ready);
    await this.writeStatus(vm, vmStatus.waiting(vm.metadata.generation, reason, message));
    if (before?.reason !== reason) await this.d.events.record(vm, "Warning", reason, message);
    // The connection informer wakes this VM when the connection changes; this is the safety net.
    return { requeueAfterMs: requeueAfterMs ?? this.d.waitRequeueMs ?? 30_000 };
  }

  /** Preflight found what no retry fixes; the VM is looked at again when its spec or the inventory changes. */
  private async markPreflightFailed(vm: ProxmoxVMObject, reason: Reason, message: string): Promise<WorkResult> {
    const before = findCondition(vm.status?.conditions, ConditionType.Stalled);
    await this.writeStatus(vm, vmStatus.stalled(vm.metadata.generation, reason, message));
    if (before?.status !== "True" || before.reason !== reason || before.message !== message) await this.d.events.record(vm, "Warning", reason, message);
    // A change of the inventory (a template made, a bridge added) wakes the VM through its
    // connection; this look again (which refreshes a stale inventory) is the safety net.
    return { requeueAfterMs: jittered(this.d.waitRequeueMs ?? 30_000) };
  }

  private async writeStatus(vm: ProxmoxVMObject, change: vmStatus.StatusChange): Promise<void> {
    await this.d.status.update(vm.metadata.namespace, vm.metadata.name, change, vm.metadata.uid);
  }
}

function approvedHash(vm: ProxmoxVMObject): string | undefined {
  return vm.metadata.annotations?.[APPROVE_ANNOTATION];
}

