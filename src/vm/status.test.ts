import { describe, expect, it } from "vitest";
import { ConditionType, Reason } from "../api/conditions.js";
import type { ProxmoxVMStatus } from "../api/status.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { Run } from "../store/run-store.js";
import * as status from "./status.js";

const run = (over: Partial<Run> = {}): Run => ({
  id: "0b5b2f55-8f0c-4f7e-9a43-7d1f0e0c2a11",
  namespace: "ns",
  name: "web",
  uid: "u",
  generation: 3,
  specHash: "h",
  action: "apply",
  status: "succeeded",
  reason: "update",
  attempt: 1,
  jobId: "u",
  worker: "w",
  createdAt: "2026-12-01T10:00:00.000Z",
  startedAt: "2026-12-01T10:00:00.000Z",
  finishedAt: "2026-12-01T10:00:05.000Z",
  addCount: 0,
  changeCount: 1,
  destroyCount: 0,
  error: null,
  errorKind: null,
  ...over,
});

/** The kstatus view: each condition's status and reason (absent conditions are left out). */
function kstatus(s: ProxmoxVMStatus) {
  const pick = (type: string) => {
    const c = s.conditions?.find((x) => x.type === type);
    return c ? `${c.status}/${c.reason}` : undefined;
  };
  return { Ready: pick(ConditionType.Ready), Reconciling: pick(ConditionType.Reconciling), Stalled: pick(ConditionType.Stalled), Synced: pick(ConditionType.Synced) };
}

const readyStatus = status.ready({ generation: 2, hash: "h2", vmId: 100, node: "pve1", ipAddresses: ["192.0.2.20"], started: true }, run({ generation: 2 }))({});

describe("VM status changes", () => {
  it("ready: Ready True, not reconciling, not stalled, synced; records what was applied", () => {
    const s = status.ready({ generation: 3, hash: "h3", vmId: 101, node: "pve1", ipAddresses: ["192.0.2.21"], started: false }, run())({ pendingApproval: { hash: "x", runId: "r", add: 0, change: 1, destroy: 0 } });
    expect(kstatus(s)).toEqual({ Ready: "True/Provisioned", Reconciling: "False/UpToDate", Stalled: "False/UpToDate", Synced: "True/UpToDate" });
    expect(s).toMatchObject({ observedGeneration: 3, specHash: "h3", vmId: 101, node: "pve1", ipAddresses: ["192.0.2.21"], state: "Stopped" });
    expect(s.pendingApproval).toBeUndefined();
    expect(s.conditions?.find((c) => c.type === "Ready")?.message).toBe("VM 101 on pve1 at 192.0.2.21 matches generation 3");
    expect(s.conditions?.map((c) => c.observedGeneration)).toEqual([3, 3, 3, 3]);
  });

  it("queued: a first run leaves Ready Unknown; a drift check leaves a Ready VM Ready", () => {
    expect(kstatus(status.queued(1, "create")({}))).toEqual({ Ready: "Unknown/Queued", Reconciling: "True/Queued", Stalled: "False/Queued", Synced: undefined });
    const drift = status.queued(2, "drift")(readyStatus);
    expect(kstatus(drift).Ready).toBe("True/Provisioned");
    expect(kstatus(drift).Reconciling).toBe("True/Queued");
    expect(kstatus(status.queued(3, "update")(readyStatus)).Ready).toBe("Unknown/Queued");
    const deleting = status.queued(2, "delete")(readyStatus);
    expect(kstatus(deleting)).toMatchObject({ Ready: "False/Deleting", Reconciling: "True/Deleting" });
    expect(deleting.state).toBe("Deleting");
  });

  it("queued keeps a Ready=False reason (the failure stays visible until a run says more)", () => {
    const failed = status.runFailed(2, run({ status: "failed" }), { reason: Reason.ApplyFailed, detail: "boom", permanent: false, lastAttempt: true })(readyStatus);
    expect(kstatus(status.queued(2, "update")(failed)).Ready).toBe("False/ApplyFailed");
  });

  it("progressing: a VM being made says so on Ready; a Ready VM being updated stays Ready", () => {
    const first = status.progressing(1, run({ status: "running" }), Reason.Planning, "planning")({});
    expect(kstatus(first)).toMatchObject({ Ready: "Unknown/Planning", Reconciling: "True/Planning" });
    expect(first.state).toBe("Provisioning");
    expect(first.lastRun?.result).toBe("running");
    const update = status.progressing(3, run({ status: "running" }), Reason.Applying, "applying")(readyStatus);
    expect(kstatus(update)).toMatchObject({ Ready: "True/Provisioned", Reconciling: "True/Applying" });
    expect(update.state).toBe("Running");
    expect(kstatus(status.progressing(3, run({ action: "destroy" }), Reason.Deleting, "destroying")(readyStatus)).Ready).toBe("False/Deleting");
  });

  it("stalled: Stalled True, Ready False, not reconciling", () => {
    const s = status.stalled(4, Reason.InvalidSpec, "spec.memory.dedicated: too small")(readyStatus);
    expect(kstatus(s)).toMatchObject({ Ready: "False/InvalidSpec", Reconciling: "False/InvalidSpec", Stalled: "True/InvalidSpec" });
    expect(s).toMatchObject({ state: "Failed", observedGeneration: 4 });
  });

  it("waiting: Ready False with the cause, not reconciling, not stalled (it moves on by itself)", () => {
    const s = status.waiting(1, Reason.ConnectionNotFound, "ProxmoxConnection ns/pve not found")({});
    expect(kstatus(s)).toEqual({ Ready: "False/ConnectionNotFound", Reconciling: "False/ConnectionNotFound", Stalled: undefined, Synced: undefined });
    expect(s).toMatchObject({ state: "Pending", observedGeneration: 1 });
    expect(status.waiting(3, Reason.SecretNotFound, "gone")(readyStatus).state).toBe("Running");
  });

  it("run failed: retrying keeps Reconciling True; the last attempt and permanent failures stop", () => {
    const retrying = status.runFailed(3, run({ status: "failed" }), { reason: Reason.LockTimeout, detail: "lock", permanent: false, lastAttempt: false })(readyStatus);
    expect(kstatus(retrying)).toMatchObject({ Ready: "False/LockTimeout", Reconciling: "True/LockTimeout", Stalled: "False/LockTimeout" });
    expect(retrying.state).toBe("Running");
    const permanent = status.runFailed(3, run({ status: "failed" }), { reason: Reason.InsufficientStorage, detail: "full", permanent: true, lastAttempt: true })(readyStatus);
    expect(kstatus(permanent)).toMatchObject({ Ready: "False/InsufficientStorage", Reconciling: "False/InsufficientStorage", Stalled: "True/InsufficientStorage" });
    expect(permanent.state).toBe("Failed");
    expect(permanent.lastRun?.result).toBe("failed");
  });

  it("awaiting approval and drift reports stop reconciling and leave Ready alone (unless observe-only)", () => {
    const waiting = status.awaitingApproval(3, run(), "h3", { add: 0, change: 1, remove: 0 }, "approve me")(readyStatus);
    expect(kstatus(waiting)).toMatchObject({ Ready: "True/Provisioned", Reconciling: "False/AwaitingApproval" });
    expect(waiting.pendingApproval).toEqual({ hash: "h3", runId: run().id, add: 0, change: 1, destroy: 0 });
    const reported = status.driftReported(2, run(), "differs", false)(readyStatus);
    expect(kstatus(reported)).toMatchObject({ Ready: "True/Provisioned", Synced: "False/DriftDetected", Reconciling: "False/DriftDetected" });
    expect(kstatus(status.driftReported(2, run(), "differs", true)(readyStatus)).Ready).toBe("False/DriftDetected");
  });

  it("observed: moves every generation-stamped condition to the new generation", () => {
    const s = status.observed(5)(readyStatus);
    expect(s.observedGeneration).toBe(5);
    expect(s.conditions?.find((c) => c.type === "Ready")?.message).toBe("VM 100 on pve1 at 192.0.2.20 matches generation 5");
    expect(s.conditions?.map((c) => c.observedGeneration)).toEqual([5, 5, 5, 5]);
  });

  it("isUpToDate needs the same stack, this generation and Ready True", () => {
    const vm = (generation: number, s: ProxmoxVMStatus) => ({ metadata: { generation }, status: s }) as unknown as ProxmoxVMObject;
    expect(status.isUpToDate(vm(2, readyStatus), "h2")).toBe(true);
    expect(status.isUpToDate(vm(2, readyStatus), "other")).toBe(false);
    expect(status.isUpToDate(vm(3, readyStatus), "h2")).toBe(false);
    expect(status.appliedAtEarlierGeneration(vm(3, readyStatus), "h2")).toBe(true);
    expect(status.isUpToDate(vm(2, status.queued(2, "update")(readyStatus)), "h2")).toBe(false);
  });
});
