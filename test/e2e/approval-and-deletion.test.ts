import { describe, expect, it } from "vitest";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const vm = (name: string, connection: string, extra: Record<string, unknown> = {}) =>
  proxmoxVm(name, { connectionRef: { name: connection }, memory: { dedicated: 1024 }, ...extra });

// One scenario, in order: the three steps on "gated" each continue from the one before; the last
// uses a VM and a connection of its own.
describe.sequential("manual approval and deletion without a connection", () => {
  const h = useOperatorHarness();

  it("waits for approval before it creates the VM, then applies the approved spec", async () => {
    await h.apply(vm("gated", "pve", { approval: "Manual" }));
    const waiting = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined);
    const pending = waiting!.status!.pendingApproval!;
    expect(pending.add).toBe(1);
    const reconciling = waiting?.status?.conditions?.find((c) => c.type === "Reconciling");
    expect(reconciling).toMatchObject({ status: "False", reason: "AwaitingApproval" });
    expect(reconciling?.message).toContain(`proxmox.terraform-manager.dev/approve=${pending.hash}`);
    // The plan run is over and nothing else is queued for the VM: an apply would have run by now.
    await waitFor("the plan run to leave the queue", async () => (await h.runJobState("gated")) === undefined);
    expect(h.simVms()).toHaveLength(0);
    // One run: it planned (1 to add) and stopped there.
    expect(await h.runsOf("gated")).toEqual([{ action: "apply", status: "succeeded", add_count: 1, change_count: 0 }]);

    await kubectl(["annotate", "-n", h.namespace, "pvm", "gated", `proxmox.terraform-manager.dev/approve=${pending.hash}`]);
    const ready = await h.waitForReady("gated", 1);
    expect(ready?.status?.pendingApproval).toBeUndefined();
    expect(h.simVms().map((v) => v.vmid)).toEqual([ready?.status?.vmId]);
  });

  it("asks for approval again when the spec changes", async () => {
    await h.apply(vm("gated", "pve", { approval: "Manual", memory: { dedicated: 2048 } }));
    const waiting = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined && v.metadata.generation === 2);
    expect(waiting!.status!.pendingApproval).toMatchObject({ add: 0, change: 1, destroy: 0 });
    expect(Number(h.simVms()[0]!.conf.memory)).toBe(1024);
    await kubectl(["annotate", "--overwrite", "-n", h.namespace, "pvm", "gated", `proxmox.terraform-manager.dev/approve=${waiting!.status!.pendingApproval!.hash}`]);
    await h.waitForReady("gated", 2);
    expect(Number(h.simVms()[0]!.conf.memory)).toBe(2048);
  });

  it("plans again when its connection points somewhere else", async () => {
    const runsBefore = (await h.runsOf("gated")).length;
    const url = new URL(h.sim.url);
    url.hostname = "localhost";
    await kubectl(["patch", "-n", h.namespace, "proxmoxconnection", "pve", "--type=merge", "-p", JSON.stringify({ spec: { endpoint: url.toString() } })]);
    const runs = await waitFor("a run after the endpoint changed", async () => {
      const all = await h.runsOf("gated");
      return all.length > runsBefore && all;
    });
    expect(runs.length).toBe(runsBefore + 1);
    await h.waitForVm("gated", (v) => v?.status?.lastRun?.result === "no_changes");
    expect(h.simVms()).toHaveLength(1);
  });

  it("says why deletion waits when the connection is gone, and Orphan lets the resource go", async () => {
    await h.createConnection("pve-doomed");
    await h.apply(vm("stranded", "pve-doomed"));
    const ready = await h.waitForReady("stranded");
    await kubectl(["delete", "-n", h.namespace, "proxmoxconnection", "pve-doomed"]);
    await kubectl(["delete", "-n", h.namespace, "pvm", "stranded", "--wait=false"]);
    const stuck = await h.waitForVm(
      "stranded",
      (v) => v?.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "ConnectionNotFound" && c.message.startsWith("cannot delete")) === true,
    );
    expect(stuck?.status?.state).toBe("Deleting");
    expect(stuck?.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/cannot delete the VM: .*deletionPolicy: Orphan/);
    await kubectl(["patch", "-n", h.namespace, "pvm", "stranded", "--type=merge", "-p", '{"spec":{"deletionPolicy":"Orphan"}}']);
    await h.waitForVm("stranded", (v) => v === undefined);
    expect(h.simVms().map((v) => v.vmid)).toContain(ready?.status?.vmId);
  });
});
