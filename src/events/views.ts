import type { ProxmoxVMStatus } from "../api/status.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { Run, RunEvent } from "../store/run-store.js";

/**
 * What the sidecar shows of a ProxmoxVM, a run and a run's log line: the REST answers and the
 * SSE event data use these shapes (the status page codes against them). Each is a whitelist, so
 * nothing new in a resource or a row (a secret reference, a worker's host name, a spec hash)
 * reaches a response by accident.
 */
export interface VmView {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  creationTimestamp: string | null;
  /** spec.nodeName: the Proxmox node the VM is meant to run on. */
  nodeName: string | null;
  /** spec.connectionRef.name: the ProxmoxConnection (same namespace) the VM is made through. */
  connectionName: string | null;
  status: VmStatusView;
}

export interface VmStatusView {
  state?: string;
  vmId?: number;
  node?: string;
  ipAddresses?: string[];
  observedGeneration?: number;
  conditions?: ConditionView[];
  lastRun?: NonNullable<ProxmoxVMStatus["lastRun"]>;
  /** A plan that waits for approval: its run, the approve annotation's value, and its change lines (secrets masked). */
  pendingPlan?: NonNullable<ProxmoxVMStatus["pendingPlan"]>;
}

export interface ConditionView {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A run as the API shows it: the stored run without its internal bookkeeping. */
export type RunView = Omit<Run, "uid" | "specHash" | "jobId" | "worker">;

/** One log line of a run, as `GET /api/v1/runs/{id}/events` lists it. */
export type RunEventView = Omit<RunEvent, "data">;

/** One log line as the SSE `log` event carries it: with the VM it belongs to. */
export interface LogEventView extends RunEventView {
  namespace: string;
  name: string;
}

export function toVmView(vm: ProxmoxVMObject): VmView {
  const s = vm.status ?? {};
  const status: VmStatusView = {};
  if (s.state !== undefined) status.state = s.state;
  if (s.vmId !== undefined) status.vmId = s.vmId;
  if (s.node !== undefined) status.node = s.node;
  if (s.ipAddresses !== undefined) status.ipAddresses = [...s.ipAddresses];
  if (s.observedGeneration !== undefined) status.observedGeneration = s.observedGeneration;
  if (s.conditions !== undefined) {
    status.conditions = s.conditions.map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime: isoString(c.lastTransitionTime) ?? "",
      ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}),
    }));
  }
  if (s.lastRun !== undefined) {
    const r = s.lastRun;
    status.lastRun = {
      id: r.id,
      action: r.action,
      result: r.result,
      ...(r.startedAt ? { startedAt: isoString(r.startedAt)! } : {}),
      ...(r.finishedAt ? { finishedAt: isoString(r.finishedAt)! } : {}),
    };
  }
  if (s.pendingPlan !== undefined) {
    const p = s.pendingPlan;
    status.pendingPlan = { runId: p.runId, specHash: p.specHash, approveWith: p.approveWith, summary: p.summary, changes: [...p.changes] };
  }
  return {
    namespace: vm.metadata.namespace,
    name: vm.metadata.name,
    uid: vm.metadata.uid,
    generation: vm.metadata.generation ?? 0,
    creationTimestamp: isoString(vm.metadata.creationTimestamp),
    nodeName: typeof vm.spec?.nodeName === "string" ? vm.spec.nodeName : null,
    connectionName: typeof vm.spec?.connectionRef?.name === "string" ? vm.spec.connectionRef.name : null,
    status,
  };
}

export function toRunView(run: Run): RunView {
  return {
    id: run.id,
    namespace: run.namespace,
    name: run.name,
    action: run.action,
    status: run.status,
    reason: run.reason,
    attempt: run.attempt,
    generation: run.generation,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    addCount: run.addCount,
    changeCount: run.changeCount,
    destroyCount: run.destroyCount,
    error: run.error,
    errorKind: run.errorKind,
  };
}

export function toRunEventView(e: RunEvent): RunEventView {
  return { runId: e.runId, seq: e.seq, ts: e.ts, level: e.level, type: e.type, message: e.message };
}

export function toLogEventView(e: RunEvent, vm: { namespace: string; name: string }): LogEventView {
  return { ...toRunEventView(e), namespace: vm.namespace, name: vm.name };
}

/** Kubernetes timestamps arrive as strings from JSON, as Dates from some client paths. */
function isoString(value: unknown): string | null {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : null;
}
