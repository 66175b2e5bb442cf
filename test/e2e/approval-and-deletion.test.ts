import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";

const vm = (name: string, connection: string, extra: Record<string, unknown> = {}) =>
  proxmoxVm(name, { connectionRef: { name: connection }, memory: { dedicated: 1024 }, ...extra });

describe("manual approval and deletion without a connection", () => {
  const h = new OperatorHarness();
  beforeAll(() => h.start().then(() => undefined));
  afterAll(() => h.close());

  it("waits for approval before it creates the VM, then applies the approved spec", async () => {
    await h.apply(vm("gated", "pve", { approval: "Manual" }));
    const waiting = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined);
    const pending = waiting!.status!.pendingApproval!;
    expect(pending.add).toBe(1);
    const reconciling = waiting?.status?.conditions?.find((c) => c.type === "Reconciling");
    expect(reconciling).toMatchObject({ status: "False", reason: "AwaitingApproval" });
    expect(reconciling?.message).toContain(`proxmox.terraform-manager.dev/approve=${pending.hash}`);
    await new Promise((r) => setTimeout(r, 2000));
    expect(h.simVms()).toHaveLength(0);
    expect((await h.runsOf("gated")).every((r) => r.status !== "failed")).toBe(true);

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
    await h.waitForVm("gated", () => true);
    const deadline = Date.now() + 60_000;
    let runs = await h.runsOf("gated");
    while (runs.length === runsBefore && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      runs = await h.runsOf("gated");
    }
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
