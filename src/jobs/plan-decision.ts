import { APPROVE_ANNOTATION } from "../api/group.js";
import type { RunContext } from "./run-context.js";

/**
 * What a run does once its plan is known. Pure: every input is a fact the run already has, so
 * each combination is a unit test (plan-decision.test.ts).
 *
 * | first matching row                                                   | decision         |
 * |----------------------------------------------------------------------|------------------|
 * | no changes                                                           | no-changes       |
 * | deletion                                                             | apply            |
 * | managementPolicy ObserveOnly, or a drift run in driftDetection Report | report-drift     |
 * | approval Manual and the approve annotation does not name this stack  | await-approval   |
 * | otherwise                                                            | apply            |
 */
export type PlanDecision = "no-changes" | "apply" | "report-drift" | "await-approval";

export interface PlanFacts {
  hasChanges: boolean;
  deleting: boolean;
  managementPolicy: "Full" | "ObserveOnly" | undefined;
  driftMode: "Correct" | "Report" | undefined;
  /** Why the run was queued (create, update, drift, approved, manual, delete). */
  runReason: string;
  approval: "Auto" | "Manual" | undefined;
  /** The stack hash the approve annotation names, if any. */
  approvedHash: string | undefined;
  /** The hash of the stack this run planned. */
  stackHash: string;
}

export function decideAfterPlan(f: PlanFacts): PlanDecision {
  if (!f.hasChanges) return "no-changes";
  if (f.deleting) return "apply";
  if (f.managementPolicy === "ObserveOnly" || (f.runReason === "drift" && f.driftMode === "Report")) return "report-drift";
  if (f.approval === "Manual" && f.approvedHash !== f.stackHash) return "await-approval";
  return "apply";
}

/** The facts of one run's plan. */
export function planFactsOf(ctx: RunContext, hasChanges: boolean, stackHash: string): PlanFacts {
  return {
    hasChanges,
    deleting: ctx.action !== "apply",
    managementPolicy: ctx.spec.managementPolicy,
    driftMode: ctx.spec.driftDetection?.mode,
    runReason: ctx.job.data.reason,
    approval: ctx.spec.approval,
    approvedHash: ctx.vm.metadata.annotations?.[APPROVE_ANNOTATION],
    stackHash,
  };
}
