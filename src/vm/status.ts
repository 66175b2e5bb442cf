import { ConditionType, Reason } from "../api/conditions.js";
import type { ProxmoxVMStatus, StatusCondition } from "../api/status.js";
import { findCondition, setCondition } from "../kube/conditions.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { RunReason } from "../queue/run-queue.js";
import type { Run } from "../store/run-store.js";
import type { ObservedConfig } from "./observed-config.js";

/**
 * Every change the operator makes to a ProxmoxVM's status, as pure functions of the status it
 * finds: the controller and the workers write through these and nothing else, so a condition
 * triple means the same thing wherever it is written (kstatus readers rely on that).
 *
 * | state              | Ready                 | Reconciling      | Stalled | Synced         |
 * |--------------------|-----------------------|------------------|---------|----------------|
 * | queued             | Unknown (kept False)  | True Queued      | False   | -              |
 * | progressing        | Unknown, or kept True | True <phase>     | -       | -              |
 * | ready              | True Provisioned      | False            | False   | True UpToDate  |
 * | stalled            | False <reason>        | False            | True    | -              |
 * | waiting            | False <reason>        | False            | -       | -              |
 * | awaiting approval  | -                     | False            | -       | -              |
 * | drift reported     | False if ObserveOnly  | False            | -       | False Drift... |
 * | run failed         | False <reason>        | True until last  | perm.   | -              |
 */
export type StatusChange = (status: ProxmoxVMStatus) => ProxmoxVMStatus;

export interface PlanCounts {
  add: number;
  change: number;
  remove: number;
}

/** True when status says this generation's stack (`hash`) was applied and the VM is Ready. */
export function isUpToDate(vm: ProxmoxVMObject, hash: string): boolean {
  const status = vm.status;
  if (!status?.specHash || status.specHash !== hash) return false;
  if (status.observedGeneration !== vm.metadata.generation) return false;
  return findCondition(status.conditions, ConditionType.Ready)?.status === "True";
}

/** The same stack as the last apply, at a newer generation: only operator settings changed. */
export function appliedAtEarlierGeneration(vm: ProxmoxVMObject, hash: string): boolean {
  return vm.status?.specHash === hash && findCondition(vm.status.conditions, ConditionType.Ready)?.status === "True";
}

export function lastRunOf(run: Run): NonNullable<ProxmoxVMStatus["lastRun"]> {
  return {
    id: run.id,
    action: run.action === "forget" ? "destroy" : run.action,
    result: run.status,
    ...(run.startedAt ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
  };
}

/** A run was queued (`reason`: create, update, drift, approved, delete, ...). */
export function queued(generation: number | undefined, reason: RunReason): StatusChange {
  const deleting = reason === "delete";
  // A drift check does not make a Ready VM less ready; Reconciling says a check runs. (Lowering
  // Ready here made the next reconcile see "not up to date" and apply what Report mode only reports.)
  const checkingDrift = reason === "drift";
  return (s) => {
    let conditions = setCondition(s.conditions, {
      type: ConditionType.Reconciling,
      status: "True",
      reason: deleting ? Reason.Deleting : Reason.Queued,
      message: deleting ? "a destroy run is queued" : `a run is queued (${reason})`,
      observedGeneration: generation,
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
  };
}

/** The VM id is pinned before Terraform can create anything. */
export function vmIdPinned(vmId: number, node: string): StatusChange {
  return (s) => ({ ...s, vmId, node });
}

/** A run works on the VM: `reason` names the phase (Planning, Cloning, Applying, Deleting). */
export function progressing(generation: number | undefined, run: Run, reason: Reason, message: string): StatusChange {
  return (s) => ({
    ...s,
    state: reason === Reason.Deleting ? "Deleting" : s.specHash ? (s.state ?? "Provisioning") : "Provisioning",
    lastRun: { id: run.id, action: run.action === "forget" ? "destroy" : run.action, result: "running", ...(run.startedAt ? { startedAt: run.startedAt } : {}) },
    conditions: withReadyProgress(
      setCondition(s.conditions, { type: ConditionType.Reconciling, status: "True", reason, message: `${message} (run ${run.id})`, observedGeneration: generation }),
      reason,
      message,
    ),
  });
}

/**
 * While a run works, a VM that is not Ready says what is happening on Ready too (kstatus
 * readers look there); a Ready VM being updated stays Ready: it keeps running meanwhile.
 */
function withReadyProgress(conditions: StatusCondition[], reason: Reason, message: string): StatusCondition[] {
  const ready = conditions.find((c) => c.type === ConditionType.Ready);
  if (ready?.status === "True" && reason !== Reason.Deleting) return conditions;
  return setCondition(conditions, { type: ConditionType.Ready, status: reason === Reason.Deleting ? "False" : "Unknown", reason, message });
}

export interface AppliedVm {
  generation: number;
  hash: string;
  vmId: number;
  node: string;
  ipAddresses: string[];
  started: boolean;
  /** Digest, node and power state read right after the run; undefined when Proxmox could not tell. */
  observed?: ObservedConfig;
}

/** The VM matches `generation`: its stack `hash` was applied (or needed no change) by `run`. */
export function ready(vm: AppliedVm, run: Run): StatusChange {
  const { generation } = vm;
  const at = vm.ipAddresses.length ? ` at ${vm.ipAddresses.join(", ")}` : "";
  const message = `VM ${vm.vmId} on ${vm.node}${at} matches generation ${generation}`;
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "True", reason: Reason.Provisioned, message, observedGeneration: generation });
    conditions = setCondition(conditions, {
      type: ConditionType.Synced,
      status: "True",
      reason: Reason.UpToDate,
      message: `run ${run.id} ${run.status === "no_changes" ? "found no changes" : "applied"}`,
      observedGeneration: generation,
    });
    conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.UpToDate, message: "", observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Stalled, status: "False", reason: Reason.UpToDate, message: "", observedGeneration: generation });
    return {
      ...s,
      state: vm.started ? "Running" : "Stopped",
      observedGeneration: generation,
      vmId: vm.vmId,
      node: vm.node,
      ipAddresses: vm.ipAddresses,
      specHash: vm.hash,
      observed: vm.observed,
      lastRun: lastRunOf(run),
      pendingApproval: undefined,
      pendingPlan: undefined,
      conditions,
    };
  };
}

/** Status now describes `generation`, whose stack is the one already applied. */
export function observed(generation: number): StatusChange {
  return (s) => ({
    ...s,
    observedGeneration: generation,
    conditions: (s.conditions ?? []).map((c) =>
      c.observedGeneration === undefined
        ? c
        : { ...c, observedGeneration: generation, message: c.message.replace(/matches generation [0-9]+$/, `matches generation ${generation}`) },
    ),
  });
}

/** Retrying cannot help: the spec (or something the user controls) must change. */
export function stalled(generation: number | undefined, reason: Reason, message: string): StatusChange {
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Stalled, status: "True", reason, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Ready, status: "False", reason, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason, message: "", observedGeneration: generation });
    return { ...s, state: "Failed", ...(generation !== undefined ? { observedGeneration: generation } : {}), conditions };
  };
}

/** The VM waits on something outside it (its connection or a Secret); it moves on by itself. */
export function waiting(generation: number | undefined, reason: Reason, message: string): StatusChange {
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason, message: "", observedGeneration: generation });
    return { ...s, state: s.vmId ? s.state : "Pending", ...(generation !== undefined ? { observedGeneration: generation } : {}), conditions };
  };
}

/** A deletion that cannot reach Proxmox waits; the message says the way out. */
export function deletionBlocked(reason: Reason, message: string): StatusChange {
  return (s) => ({ ...s, state: "Deleting", conditions: setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message }) });
}

export function suspended(generation: number | undefined): StatusChange {
  return (s) => ({
    ...s,
    conditions: setCondition(s.conditions, {
      type: ConditionType.Reconciling,
      status: "False",
      reason: Reason.Suspended,
      message: "spec.suspend is true: the operator does not change this VM",
      observedGeneration: generation,
    }),
  });
}

/** A plan for stack `hash` waits for a person (spec.approval: Manual). */
export function awaitingApproval(generation: number | undefined, run: Run, hash: string, changes: PlanCounts, message: string): StatusChange {
  return (s) => ({
    ...s,
    pendingApproval: { hash, runId: run.id, add: changes.add, change: changes.change, destroy: changes.remove },
    lastRun: lastRunOf(run),
    conditions: setCondition(s.conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.AwaitingApproval, message, observedGeneration: generation }),
  });
}

/** Proxmox differs from the spec and policy says report, not correct. */
/** `observed`: the drifted VM as the report saw it, so the next drift check plans only if it moves again. */
export function driftReported(generation: number | undefined, run: Run, message: string, observeOnly: boolean, observed?: ObservedConfig): StatusChange {
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Synced, status: "False", reason: Reason.DriftDetected, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.DriftDetected, message: "", observedGeneration: generation });
    if (observeOnly) {
      // Nothing will make it match: say so on Ready instead of leaving "waiting for a worker".
      // (Report mode keeps Ready as it is: the VM was made as written; it has since drifted.)
      conditions = setCondition(conditions, { type: ConditionType.Ready, status: "False", reason: Reason.DriftDetected, message, observedGeneration: generation });
    }
    return { ...s, lastRun: lastRunOf(run), conditions, observed };
  };
}

export interface FailedRunStatus {
  reason: Reason;
  /** The message for Ready (and Stalled when permanent): what failed and what happens next. */
  detail: string;
  permanent: boolean;
  lastAttempt: boolean;
}

/** A run failed; it retries unless this was its last attempt or retrying cannot help. */
export function runFailed(generation: number | undefined, run: Run, failure: FailedRunStatus): StatusChange {
  const { reason, detail, permanent, lastAttempt } = failure;
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message: detail, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Stalled, status: permanent ? "True" : "False", reason, message: permanent ? detail : "", observedGeneration: generation });
    conditions = setCondition(conditions, {
      type: ConditionType.Reconciling,
      status: lastAttempt ? "False" : "True",
      reason,
      message: lastAttempt ? "" : "retrying",
      observedGeneration: generation,
    });
    return { ...s, state: lastAttempt ? "Failed" : s.state, lastRun: lastRunOf(run), conditions };
  };
}

/** A run failed before tofu started (no run record): Ready says why; it retries unless it cannot help. */
export function failedBeforeRun(generation: number | undefined, failure: FailedRunStatus): StatusChange {
  const { reason, detail, permanent, lastAttempt } = failure;
  return (s) => {
    let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message: detail, observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: lastAttempt ? "False" : "True", reason, message: lastAttempt ? "" : "retrying", observedGeneration: generation });
    conditions = setCondition(conditions, { type: ConditionType.Stalled, status: permanent ? "True" : "False", reason, message: permanent ? detail : "", observedGeneration: generation });
    return { ...s, conditions };
  };
}
