import { describe, expect, it } from "vitest";
import { APPROVE_ANNOTATION, DISCARD_ANNOTATION } from "../api/group.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import { approvalValue, discardRequested, isApproved } from "./plan-approval.js";

const vm = (annotations: Record<string, string>, approveWith = "hash-1"): ProxmoxVMObject =>
  ({
    metadata: { name: "web", namespace: "ns", uid: "u", annotations },
    status: {
      pendingApproval: { hash: "hash-1", runId: "run-1", add: 0, change: 1, destroy: 0 },
      pendingPlan: { runId: "run-1", specHash: "hash-1", approveWith, summary: "0 to add, 1 to change, 0 to destroy", changes: [] },
    },
  }) as unknown as ProxmoxVMObject;

describe("plan approval", () => {
  it("approves with approveWith or the plan's run id, nothing else", () => {
    expect(isApproved(vm({ [APPROVE_ANNOTATION]: "hash-1" }))).toBe(true);
    expect(isApproved(vm({ [APPROVE_ANNOTATION]: "run-1" }))).toBe(true);
    expect(isApproved(vm({ [APPROVE_ANNOTATION]: "hash-0" }))).toBe(false);
    expect(isApproved(vm({}))).toBe(false);
  });

  it("once the hash was approved before, only the run id approves the new plan", () => {
    expect(isApproved(vm({ [APPROVE_ANNOTATION]: "hash-1" }, "run-1"))).toBe(false);
    expect(isApproved(vm({ [APPROVE_ANNOTATION]: "run-1" }, "run-1"))).toBe(true);
  });

  it("falls back to the pending hash without a kept plan", () => {
    expect(approvalValue({ pendingApproval: { hash: "h", runId: "r", add: 1, change: 0, destroy: 0 } })).toBe("h");
  });

  it("discards only the pending plan's run", () => {
    expect(discardRequested(vm({ [DISCARD_ANNOTATION]: "run-1" }))).toBe("run-1");
    expect(discardRequested(vm({ [DISCARD_ANNOTATION]: "run-0" }))).toBeUndefined();
  });
});
