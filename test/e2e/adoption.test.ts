import { describe, expect, it } from "vitest";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";

const OTHER_UID = "3f1c0a52-9a0e-4d41-8c77-2b1f0d6e9a10";

/** Each VM names its ProxmoxVM in a tag; a VM that names another one is never taken over. */
describe("ownership marker", () => {
  const h = useOperatorHarness();

  it("tags each VM with its resource's uid, and refuses to adopt a VM another resource owns", async () => {
    await h.apply(proxmoxVm("owned", { memory: { dedicated: 1024 }, started: false }));
    const ready = await h.waitForReady("owned", 1);
    const vmId = ready!.status!.vmId!;
    const simVm = h.sim.state().vms[vmId]!;
    expect(String(simVm.conf.tags).split(";")).toContain(`ptm-owner-${ready!.metadata.uid}`);

    // Someone else's VM now has this id (its marker names another ProxmoxVM).
    simVm.conf.tags = `ptm-owner-${OTHER_UID}`;
    const before = JSON.stringify(simVm.conf);
    await h.apply(proxmoxVm("owned", { memory: { dedicated: 2048 }, started: false }));
    const stalled = await h.waitForVm("owned", (v) => v?.status?.conditions?.some((c) => c.type === "Stalled" && c.status === "True") === true);
    const message = stalled!.status!.conditions!.find((c) => c.type === "Stalled")!.message;
    expect(message).toBe(
      `VM ${vmId} (owned) on pve1 belongs to another ProxmoxVM (uid ${OTHER_UID}): it is not taken over. If it is really this resource's VM, remove that tag; otherwise delete and re-apply this ProxmoxVM to give it a new VM id`,
    );
    expect(await h.runsOf("owned")).toHaveLength(1);
    expect(JSON.stringify(h.sim.state().vms[vmId]!.conf)).toBe(before);
  });
});
