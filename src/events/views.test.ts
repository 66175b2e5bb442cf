import { describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { Run } from "../store/run-store.js";
import { toLogEventView, toRunView, toVmView } from "./views.js";

describe("views", () => {
  it("show a VM's identity, spec.nodeName and the status fields of the contract only", () => {
    const vm = {
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxVM",
      metadata: { name: "web", namespace: "ns", uid: "u1", generation: 3, creationTimestamp: new Date("2026-01-02T03:04:05Z"), annotations: { secret: "x" } },
      spec: { nodeName: "pve1", connectionRef: { name: "pve" }, initialization: { userAccount: { passwordSecretRef: { name: "pw", key: "k" } } } },
      status: {
        state: "Running",
        vmId: 100,
        node: "pve1",
        ipAddresses: ["192.0.2.1"],
        observedGeneration: 3,
        specHash: "abc",
        pendingApproval: { hash: "h", runId: "r", add: 1, change: 0, destroy: 0 },
        conditions: [{ type: "Ready", status: "True", reason: "Provisioned", message: "ok", lastTransitionTime: "2026-01-02T03:04:06Z", observedGeneration: 3 }],
        lastRun: { id: "r", action: "apply", result: "succeeded", startedAt: "2026-01-02T03:04:05Z" },
      },
    } as unknown as ProxmoxVMObject;
    expect(toVmView(vm)).toEqual({
      namespace: "ns",
      name: "web",
      uid: "u1",
      generation: 3,
      creationTimestamp: "2026-01-02T03:04:05.000Z",
      nodeName: "pve1",
      connectionName: "pve",
      status: {
        state: "Running",
        vmId: 100,
        node: "pve1",
        ipAddresses: ["192.0.2.1"],
        observedGeneration: 3,
        conditions: [{ type: "Ready", status: "True", reason: "Provisioned", message: "ok", lastTransitionTime: "2026-01-02T03:04:06Z", observedGeneration: 3 }],
        lastRun: { id: "r", action: "apply", result: "succeeded", startedAt: "2026-01-02T03:04:05Z" },
      },
    });
  });

  it("give a VM without status an empty status", () => {
    const vm = { metadata: { name: "a", namespace: "b", uid: "c" }, spec: {} } as unknown as ProxmoxVMObject;
    expect(toVmView(vm)).toEqual({ namespace: "b", name: "a", uid: "c", generation: 0, creationTimestamp: null, nodeName: null, connectionName: null, status: {} });
  });

  it("leave the worker, job id and spec hash out of a run", () => {
    const run: Run = {
      id: "r",
      namespace: "ns",
      name: "web",
      uid: "u",
      generation: 2,
      specHash: "hash",
      action: "apply",
      status: "succeeded",
      reason: "spec",
      attempt: 1,
      jobId: "u",
      worker: "host-123",
      createdAt: "t0",
      startedAt: "t1",
      finishedAt: "t2",
      addCount: 1,
      changeCount: 0,
      destroyCount: 0,
      error: null,
      errorKind: null,
    };
    const view = toRunView(run);
    expect(Object.keys(view).sort()).toEqual(
      ["id", "namespace", "name", "action", "status", "reason", "attempt", "generation", "createdAt", "startedAt", "finishedAt", "addCount", "changeCount", "destroyCount", "error", "errorKind"].sort(),
    );
    expect(view).not.toHaveProperty("worker");
  });

  it("give a log line its VM and drop its structured data", () => {
    const e = { runId: "r", seq: 4, ts: "t", level: "info", type: "apply_start", message: "m", data: { diagnostic: "x" } };
    expect(toLogEventView(e, { namespace: "ns", name: "web" })).toEqual({ runId: "r", seq: 4, ts: "t", level: "info", type: "apply_start", message: "m", namespace: "ns", name: "web" });
  });
});
