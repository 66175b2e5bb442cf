import { describe, expect, it } from "vitest";
import type { VmView } from "../../events/views.js";
import { pendingRunOf } from "./plan.js";

const view = (status: VmView["status"]): VmView => ({ namespace: "lab", name: "web", uid: "u", generation: 2, creationTimestamp: null, nodeName: "pve1", connectionName: "pve", status });
const reconciling = (reason: string) => [{ type: "Reconciling", status: "False", reason, message: "", lastTransitionTime: "2026-12-03T00:00:00Z" }];
const lastRun = { id: "r-last", action: "apply" as const, result: "succeeded" };

describe("the pending plan's run", () => {
  it("is status.pendingPlan's, else the last run while the VM awaits approval, else none", () => {
    const pendingPlan = { runId: "r-plan", specHash: "h", approveWith: "h", summary: "0 to add, 1 to change, 0 to destroy", changes: [] };
    expect(pendingRunOf(view({ pendingPlan, lastRun, conditions: reconciling("AwaitingApproval") }))).toBe("r-plan");
    expect(pendingRunOf(view({ lastRun, conditions: reconciling("AwaitingApproval") }))).toBe("r-last");
    // A discarded plan no longer waits, though the spec still does.
    expect(pendingRunOf(view({ lastRun, conditions: reconciling("PlanDiscarded") }))).toBeUndefined();
    expect(pendingRunOf(view({ lastRun }))).toBeUndefined();
  });
});
