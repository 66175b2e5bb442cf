import { describe, expect, it } from "vitest";
import { decideAfterPlan, type PlanDecision, type PlanFacts } from "./plan-decision.js";

const HASH = "a".repeat(64);
const base: PlanFacts = {
  hasChanges: true,
  deleting: false,
  managementPolicy: "Full",
  driftMode: "Correct",
  runReason: "update",
  approval: "Auto",
  approvedHash: undefined,
  stackHash: HASH,
};

/** Every combination of the facts the decision reads, with the outcome worked out independently. */
function expected(f: PlanFacts): PlanDecision {
  if (!f.hasChanges) return "no-changes";
  if (f.deleting) return "apply";
  const observing = f.managementPolicy === "ObserveOnly";
  const reporting = f.runReason === "drift" && f.driftMode === "Report";
  if (observing || reporting) return "report-drift";
  const approved = f.approvedHash === f.stackHash;
  return f.approval === "Manual" && !approved ? "await-approval" : "apply";
}

const combinations: PlanFacts[] = [];
for (const hasChanges of [true, false])
  for (const deleting of [true, false])
    for (const managementPolicy of ["Full", "ObserveOnly", undefined] as const)
      for (const driftMode of ["Correct", "Report", undefined] as const)
        for (const runReason of ["create", "update", "drift", "approved", "manual", "delete"])
          for (const approval of ["Auto", "Manual", undefined] as const)
            for (const approvedHash of [undefined, HASH, "b".repeat(64)])
              combinations.push({ hasChanges, deleting, managementPolicy, driftMode, runReason, approval, approvedHash, stackHash: HASH });

describe("decideAfterPlan", () => {
  it("covers every combination of deletion, policy, drift mode, run reason, approval and changes", () => {
    expect(combinations).toHaveLength(2 * 2 * 3 * 3 * 6 * 3 * 3);
    const wrong = combinations.filter((f) => decideAfterPlan(f) !== expected(f));
    expect(wrong).toEqual([]);
    const seen = new Set(combinations.map(decideAfterPlan));
    expect([...seen].sort()).toEqual(["apply", "await-approval", "no-changes", "report-drift"]);
  });

  it("never applies a plan without changes, whatever else holds", () => {
    expect(decideAfterPlan({ ...base, hasChanges: false, approval: "Manual" })).toBe("no-changes");
    expect(decideAfterPlan({ ...base, hasChanges: false, deleting: true })).toBe("no-changes");
  });

  it("destroys on deletion even for an observe-only VM waiting for approval", () => {
    expect(decideAfterPlan({ ...base, deleting: true, managementPolicy: "ObserveOnly", approval: "Manual" })).toBe("apply");
  });

  it("reports instead of correcting drift in Report mode, but applies spec changes", () => {
    expect(decideAfterPlan({ ...base, runReason: "drift", driftMode: "Report" })).toBe("report-drift");
    expect(decideAfterPlan({ ...base, runReason: "update", driftMode: "Report" })).toBe("apply");
    expect(decideAfterPlan({ ...base, runReason: "drift", driftMode: "Correct" })).toBe("apply");
  });

  it("changes nothing of an observe-only VM", () => {
    expect(decideAfterPlan({ ...base, managementPolicy: "ObserveOnly", runReason: "create" })).toBe("report-drift");
  });

  it("waits for a person until the annotation names exactly this stack", () => {
    expect(decideAfterPlan({ ...base, approval: "Manual" })).toBe("await-approval");
    expect(decideAfterPlan({ ...base, approval: "Manual", approvedHash: "b".repeat(64) })).toBe("await-approval");
    expect(decideAfterPlan({ ...base, approval: "Manual", approvedHash: HASH })).toBe("apply");
  });
});
