import { describe, expect, it } from "vitest";
import { ConditionType, Reason } from "../api/conditions.js";
import { ProxmoxVMSpecSchema } from "../api/proxmox-vm.js";
import type { ConnectionInventory, ProxmoxConnectionStatus } from "../api/status.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { ConnectionResolver, ResolvedConnection } from "../vm/connection-resolver.js";
import type { GuestInfo } from "../vm/preflight.js";
import { RunGate, type ConnectionHealthSource } from "./run-gate.js";

const OFFLINE_MESSAGE = "node pve1 is offline: the VM waits until it is back";

const inventory = (online: boolean): ConnectionInventory => ({
  nodes: [{ name: "pve1", online }],
  storages: [{ node: "pve1", id: "local-lvm", type: "lvmthin", content: ["images"], availableMiB: 500 * 1024, active: true }],
  bridges: [{ node: "pve1", name: "vmbr0" }],
  templates: [{ vmid: 9000, name: "ubuntu", node: "pve1" }],
});

/** The connection checks as the gate sees them: a clock of the last check, and what a check finds. */
class Checks implements ConnectionHealthSource {
  lastCheck = Date.now();
  refreshes = 0;
  online = false;
  guestsOf(): ReadonlyMap<number, GuestInfo> {
    return new Map([[9000, { vmid: 9000, node: "pve1", name: "ubuntu", template: true }]]);
  }
  lastCheckOf(): number {
    return this.lastCheck;
  }
  async refresh(_key: string, maxAgeMs: number): Promise<void> {
    if (Date.now() - this.lastCheck < maxAgeMs) return;
    this.refreshes++;
    this.lastCheck = Date.now();
  }
  connection(): ResolvedConnection {
    const status: ProxmoxConnectionStatus = {
      inventory: inventory(this.online),
      conditions: [{ type: ConditionType.Ready, status: "True", reason: Reason.Connected, message: "ok", lastTransitionTime: new Date(0).toISOString(), observedGeneration: 1 }],
    };
    return { name: "pve", uid: "c", generation: 1, apiToken: "u@pve!t=s", spec: { endpoint: "https://pve:8006/", tokenSecretRef: { name: "t", key: "token" }, insecureSkipTLSVerify: false, maxConcurrentJobsPerNode: 2 }, status };
  }
}

const spec = ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 } });

function vmWithReady(reason: string, message: string, at: number): ProxmoxVMObject {
  return {
    metadata: { name: "web", namespace: "ns", uid: "vm-uid", generation: 2 },
    spec,
    status: { vmId: 100, conditions: [{ type: ConditionType.Ready, status: "False", reason, message, lastTransitionTime: new Date(at).toISOString(), observedGeneration: 2 }] },
  } as unknown as ProxmoxVMObject;
}

function gateOver(checks: Checks): RunGate {
  const resolver = { resolve: async () => checks.connection(), forget: () => undefined } as unknown as ConnectionResolver;
  return new RunGate(checks, resolver);
}

describe("RunGate and an offline node", () => {
  it("holds a VM back while its node is offline, saying so, and opens once a check sees it back", async () => {
    const checks = new Checks();
    const gate = gateOver(checks);
    const vm = vmWithReady(Reason.Provisioned, "", Date.now());
    expect(await gate.check(vm, spec, checks.connection())).toEqual({ kind: "wait", reason: Reason.NodeOffline, message: OFFLINE_MESSAGE, requeueAfterMs: expect.any(Number) });
    checks.online = true;
    expect((await gate.check(vm, spec, checks.connection())).kind).toBe("open");
  });

  it("does not take its own NodeOffline verdict for a run's failure (no re-check, no 're-checking' flip)", async () => {
    const checks = new Checks();
    const gate = gateOver(checks);
    const first = await gate.check(vmWithReady(Reason.Provisioned, "", Date.now()), spec, checks.connection());
    expect(first.kind).toBe("wait");
    // The controller wrote the verdict to Ready; the next look must say the same, without a check.
    const held = vmWithReady(Reason.NodeOffline, OFFLINE_MESSAGE, Date.now() + 1);
    const again = await gate.check(held, spec, checks.connection());
    expect(again).toMatchObject({ kind: "wait", reason: Reason.NodeOffline, message: OFFLINE_MESSAGE });
    expect(checks.refreshes).toBe(0);
  });

  it("checks the connection again when a run met the offline node after the last check", async () => {
    const checks = new Checks();
    checks.lastCheck = Date.now() - 60_000;
    const gate = gateOver(checks);
    const failed = vmWithReady(Reason.NodeOffline, "received an HTTP 595 response - Reason: No route to host — ...; the operator checks the ProxmoxConnection again and runs once it passes", Date.now());
    const gated = await gate.check(failed, spec, checks.connection());
    expect(checks.refreshes).toBe(1);
    expect(gated).toMatchObject({ kind: "wait", reason: Reason.NodeOffline, message: OFFLINE_MESSAGE });
  });
});
