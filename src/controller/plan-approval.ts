import { ConditionType, Reason } from "../api/conditions.js";
import { APPROVE_ANNOTATION, DISCARD_ANNOTATION } from "../api/group.js";
import type { ProxmoxVMStatus } from "../api/status.js";
import { setCondition } from "../kube/conditions.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { PlanStore } from "../store/plan-store.js";
import { annotationManager } from "../kube/annotation-manager.js";

/**
 * What the approve and discard annotations say about a VM's pending plan. Pure, except
 * `discardedStatus`, a status change.
 */

/** The annotation value that approves the pending plan (status.pendingPlan.approveWith, else the plan's spec hash). */
export function approvalValue(status: ProxmoxVMStatus): string | undefined {
  return status.pendingPlan?.approveWith ?? status.pendingApproval?.hash;
}

/** True when the approve annotation approves the pending plan: its approveWith value, or (always explicit) its run id. */
export function isApproved(vm: ProxmoxVMObject): boolean {
  const value = approvalValue(vm.status ?? {});
  const annotation = vm.metadata.annotations?.[APPROVE_ANNOTATION];
  if (annotation === undefined) return false;
  return annotation === value || annotation === vm.status?.pendingPlan?.runId;
}

/** The pending plan's run id when the discard annotation names it (a plan not yet discarded). */
export function discardRequested(vm: ProxmoxVMObject): string | undefined {
  const runId = vm.status?.pendingPlan?.runId;
  return runId !== undefined && vm.metadata.annotations?.[DISCARD_ANNOTATION] === runId ? runId : undefined;
}

/**
 * Discards the plan: its kept file is dropped, status no longer shows it, and the VM keeps
 * waiting on the same spec (pendingApproval stays, so no new plan is made until the spec
 * changes or the hash is approved, which plans again for a new approval). `vm` must be read
 * afresh (managedFields name who discarded).
 */
export async function discardPlan(plans: PlanStore | undefined, vm: ProxmoxVMObject, runId: string): Promise<{ by: string; message: string; change: (s: ProxmoxVMStatus) => ProxmoxVMStatus }> {
  const by = annotationManager(vm, DISCARD_ANNOTATION) ?? "unknown";
  await plans?.decide(runId, "discarded", by);
  const message = `plan ${runId} was discarded by ${by} at ${new Date().toISOString()}; nothing was applied. Change the spec, or approve ${APPROVE_ANNOTATION}=${vm.status?.pendingApproval?.hash ?? ""} to plan again`;
  const generation = vm.metadata.generation;
  return {
    by,
    message,
    change: (s) => ({
      ...s,
      pendingPlan: undefined,
      conditions: setCondition(s.conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.PlanDiscarded, message, observedGeneration: generation }),
    }),
  };
}
