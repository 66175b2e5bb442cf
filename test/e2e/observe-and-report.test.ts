import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";

const vm = (name: string, extra: Record<string, unknown>) => proxmoxVm(name, { memory: { dedicated: 1024 }, ...extra });

const condition = (vm: ProxmoxVMObject | undefined, type: string) => vm?.status?.conditions?.find((c) => c.type === type);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The two ways a ProxmoxVM only looks and never changes Proxmox: driftDetection.mode Report and
 * managementPolicy ObserveOnly. Both must leave Proxmox as it is, and neither may plan in a loop.
 */
describe("drift that is reported, not corrected", () => {
  // Drift checks every 3 s unless a VM says otherwise, so a few happen during the test.
  const h = new OperatorHarness({ env: { PTM_DRIFT_INTERVAL: "3s" } });
  beforeAll(() => h.start().then(() => undefined));
  afterAll(() => h.close());

  it("driftDetection.mode Report: the drift is reported on Synced and Proxmox keeps it", async () => {
    await h.apply(vm("reporter", { driftDetection: { mode: "Report" } }));
    const ready = await h.waitForReady("reporter", 1);
    const vmId = ready!.status!.vmId!;
    h.sim.state().vms[vmId]!.conf.memory = "2048"; // someone resized it in the Proxmox UI

    const drifted = await h.waitForVm("reporter", (v) => condition(v, "Synced")?.reason === "DriftDetected", 60_000);
    expect(condition(drifted, "Synced")?.message).toMatch(/1 to change.*driftDetection.mode Report/);
    // Several more drift checks come and go; none of them applies.
    await pause(10_000);
    const later = await h.getVm("reporter");
    expect(h.sim.state().vms[vmId]!.conf.memory).toBe("2048");
    expect(condition(later, "Ready")?.status).toBe("True");
    expect(condition(later, "Synced")).toMatchObject({ status: "False", reason: "DriftDetected" });
    const runs = await h.runsOf("reporter");
    expect(runs.filter((r) => (r.change_count ?? 0) > 0 && r.status === "succeeded").length).toBeGreaterThan(1);
  });

  it("managementPolicy ObserveOnly: one plan per drift check, not a plan loop", async () => {
    // Its own interval (1h) keeps the global 3 s one away: after the first look, nothing is due.
    await h.apply(vm("observer", { managementPolicy: "ObserveOnly", driftDetection: { interval: "1h" } }));
    const observed = await h.waitForVm("observer", (v) => condition(v, "Synced")?.reason === "DriftDetected", 60_000);
    expect(condition(observed, "Synced")?.message).toMatch(/1 to add.*managementPolicy ObserveOnly/);
    expect(condition(observed, "Ready")).toMatchObject({ status: "False", reason: "DriftDetected" });
    const first = (await h.runsOf("observer")).length;
    await pause(10_000);
    expect((await h.runsOf("observer")).length).toBe(first);
    expect(h.simVms().filter((v) => v.conf.name === "observer")).toHaveLength(0);
  });
});
