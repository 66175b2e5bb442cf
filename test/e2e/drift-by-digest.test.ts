import { describe, expect, it } from "vitest";
import { configDigest } from "../../src/simulator/vm-config.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

/**
 * Drift by config digest (issue 13): a drift check of a VM that nobody touched compares the
 * config digest, node and power state with those recorded after its last run and starts no tofu;
 * a change made on Proxmox is found by the next check and corrected by a plan.
 */
describe("drift checks by config digest", () => {
  // A drift check every 3 s, so a few come due during the test.
  const h = useOperatorHarness({ env: { PTM_DRIFT_INTERVAL: "3s" } });

  it("an unchanged VM's drift checks start no tofu; an out-of-band memory change is found and corrected", async () => {
    await h.apply(proxmoxVm("digest", { memory: { dedicated: 1024 } }));
    const ready = await h.waitForReady("digest", 1);
    const vmId = ready!.status!.vmId!;
    const simVm = () => h.sim.state().vms[vmId]!;
    // What the worker recorded is what Proxmox holds.
    expect(ready!.status!.observed).toMatchObject({ configDigest: configDigest(simVm()), node: "pve1", powerState: "running" });

    // Three drift checks come due and find nothing: no run is recorded for any of them.
    const runsBefore = await h.runsOf("digest");
    const unchangedBefore = await h.driftChecks("unchanged");
    await waitFor("three unchanged drift checks", async () => (await h.driftChecks("unchanged")) >= unchangedBefore + 3, 60_000);
    expect(await h.runsOf("digest")).toEqual(runsBefore);
    expect(await h.runJobState("digest")).toBeUndefined();

    // Someone resizes the VM in the Proxmox UI: the next check sees a new digest, plans and corrects.
    simVm().conf.memory = "2048";
    const changedDigest = configDigest(simVm());
    await waitFor("the drift run to correct the memory", async () => simVm().conf.memory === "1024", 60_000);
    expect(await h.driftChecks("changed")).toBeGreaterThanOrEqual(1);
    const runs = await h.runsOf("digest");
    expect(runs.length).toBe(runsBefore.length + 1);
    expect(runs.at(-1)).toMatchObject({ status: "succeeded", change_count: 1 });
    // The correction is recorded: the digest after it, not the drifted one.
    const corrected = await h.waitForVm("digest", (v) => v?.status?.lastRun?.id !== ready!.status!.lastRun!.id && v?.status?.observed !== undefined);
    expect(corrected!.status!.observed!.configDigest).toBe(configDigest(simVm()));
    expect(corrected!.status!.observed!.configDigest).not.toBe(changedDigest);
  });

  it("a VM stopped on Proxmox is found by its power state and started again", async () => {
    await h.apply(proxmoxVm("powered", { memory: { dedicated: 512 } }));
    const ready = await h.waitForReady("powered", 1);
    const vmId = ready!.status!.vmId!;
    const runsBefore = (await h.runsOf("powered")).length;
    // Stopped in the UI: the config file is untouched (same digest), the power state is not.
    const digest = configDigest(h.sim.state().vms[vmId]!);
    h.sim.state().vms[vmId]!.status = "stopped";
    expect(configDigest(h.sim.state().vms[vmId]!)).toBe(digest);
    await waitFor("the drift run to start the VM again", async () => h.sim.state().vms[vmId]!.status === "running", 60_000);
    expect((await h.runsOf("powered")).length).toBe(runsBefore + 1);
  });
});
