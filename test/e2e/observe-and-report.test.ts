import { describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const vm = (name: string, extra: Record<string, unknown>) => proxmoxVm(name, { memory: { dedicated: 1024 }, ...extra });

const condition = (vm: ProxmoxVMObject | undefined, type: string) => vm?.status?.conditions?.find((c) => c.type === type);

/**
 * The two ways a ProxmoxVM only looks and never changes Proxmox: driftDetection.mode Report and
 * managementPolicy ObserveOnly. Both must leave Proxmox as it is, and neither may plan in a loop
 * (a reported drift is planned again only when Proxmox changes again: drift by config digest).
 */
describe("drift that is reported, not corrected", () => {
  // Drift checks every 3 s unless a VM says otherwise, so a few happen during the test.
  const h = useOperatorHarness({ env: { PTM_DRIFT_INTERVAL: "3s" } });

  it("driftDetection.mode Report: the drift is reported on Synced and Proxmox keeps it", async () => {
    await h.apply(vm("reporter", { driftDetection: { mode: "Report" } }));
    const ready = await h.waitForReady("reporter", 1);
    const vmId = ready!.status!.vmId!;
    h.sim.state().vms[vmId]!.conf.memory = "2048"; // someone resized it in the Proxmox UI

    const drifted = await h.waitForVm("reporter", (v) => condition(v, "Synced")?.reason === "DriftDetected", 60_000);
    expect(condition(drifted, "Synced")?.message).toMatch(/1 to change.*driftDetection.mode Report/);
    // More drift checks come and go: the drifted digest was recorded with the report, so they
    // find nothing new and start no tofu; none of them applies, and the report stands.
    const runsAfterReport = await h.runsOf("reporter");
    const unchanged = await h.driftChecks("unchanged");
    await waitFor("two more drift checks", async () => (await h.driftChecks("unchanged")) >= unchanged + 2);
    const later = await h.getVm("reporter");
    expect(h.sim.state().vms[vmId]!.conf.memory).toBe("2048");
    expect(condition(later, "Ready")?.status).toBe("True");
    expect(condition(later, "Synced")).toMatchObject({ status: "False", reason: "DriftDetected" });
    expect(await h.runsOf("reporter")).toEqual(runsAfterReport);
    expect(runsAfterReport.at(-1)).toMatchObject({ status: "succeeded", change_count: 1 });

    // Another change on Proxmox is looked at again (a new digest) and reported, still not applied.
    h.sim.state().vms[vmId]!.conf.cores = "3";
    await waitFor("a plan of the second change", async () => (await h.runsOf("reporter")).length > runsAfterReport.length && (await h.runsOf("reporter")).at(-1)!.status !== "running");
    expect(h.sim.state().vms[vmId]!.conf).toMatchObject({ memory: "2048", cores: "3" });
    expect(condition(await h.getVm("reporter"), "Synced")).toMatchObject({ status: "False", reason: "DriftDetected" });
  });

});

describe("observing only", () => {
  // A namespace of its own: every reconcile counted below is one of this VM. A resync every 2 s
  // makes the controller look at it again and again (what a plan loop would need).
  const h = useOperatorHarness({ env: { PTM_DRIFT_INTERVAL: "3s", PTM_RESYNC_INTERVAL: "2s" } });

  it("managementPolicy ObserveOnly: one plan per drift check, not a plan loop", async () => {
    // Its own interval (1h) keeps the global 3 s one away: after the first look, nothing is due.
    await h.apply(vm("observer", { managementPolicy: "ObserveOnly", driftDetection: { interval: "1h" } }));
    const observed = await h.waitForVm("observer", (v) => condition(v, "Synced")?.reason === "DriftDetected", 60_000);
    expect(condition(observed, "Synced")?.message).toMatch(/1 to add.*managementPolicy ObserveOnly/);
    expect(condition(observed, "Ready")).toMatchObject({ status: "False", reason: "DriftDetected" });
    await waitFor("the observe run to leave the queue", async () => (await h.runJobState("observer")) === undefined);
    const first = await h.runsOf("observer");
    expect(first.map((r) => r.status)).toEqual(["succeeded"]);
    // The controller looks at the VM again on every resync (2 s): three reconciles of it after
    // the run, and a plan loop would have queued a run on the first of them.
    const reconciles = await h.reconcileCount();
    await waitFor("three more reconciles", async () => (await h.reconcileCount()) >= reconciles + 3);
    expect(await h.runJobState("observer")).toBeUndefined();
    expect(await h.runsOf("observer")).toEqual(first);
    expect(h.simVms().filter((v) => v.conf.name === "observer")).toHaveLength(0);
  });
});
