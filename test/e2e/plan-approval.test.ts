import { describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { DEFAULT_SEED } from "../../src/simulator/index.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { proxmoxCall, waitForTask } from "../support/proxmox-call.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const TWO_NODES = { ...DEFAULT_SEED, nodes: [...DEFAULT_SEED.nodes, { name: "pve2", cpus: 8, memoryGiB: 64, bridges: ["vmbr0"] }] };
const ADMIN = "plan-approval-admin-token-0123456789";
const APPROVE = "proxmox.terraform-manager.dev/approve";

interface PlanBody {
  runId: string;
  desired: { changes: { path: string; action: string; before: unknown; after: unknown }[] } | null;
  planned: { resources: { address: string; actions: string[]; replace: boolean; changes: { path: string; before: unknown; after: unknown }[] }[] } | null;
  planRunId: string | null;
}

const manual = (memory: number) => proxmoxVm("reviewed", { approval: "Manual", memory: { dedicated: memory } });

// One VM through its plans in order: each step continues from the one before.
describe.sequential("plans people can read, approvals that apply exactly what was read", () => {
  const h = useOperatorHarness({ sidecar: true, simulator: { config: TWO_NODES }, env: { PTM_SIDECAR_ADMIN_TOKEN: ADMIN } });

  const plan = async (runId: string): Promise<PlanBody> => {
    const res = await fetch(`${h.sidecarUrl}/api/v1/runs/${runId}/plan`);
    expect(res.status).toBe(200);
    return (await res.json()) as PlanBody;
  };
  const post = (what: "approve" | "discard", body: object = {}) =>
    fetch(`${h.sidecarUrl}/api/v1/namespaces/${h.namespace}/vms/reviewed/${what}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const pendingOtherThan = (runId: string | undefined) => (v: ProxmoxVMObject | undefined) => v?.status?.pendingPlan !== undefined && v.status.pendingPlan.runId !== runId;
  /** Command lines (type "command") of a run's log. */
  const commands = async (runId: string) => {
    const res = await fetch(`${h.sidecarUrl}/api/v1/runs/${runId}/events?limit=1000`);
    const { items } = (await res.json()) as { items: { type: string; message: string }[] };
    return items.filter((e) => e.type === "command").map((e) => e.message);
  };
  const memoryOnProxmox = () => Number(h.simVms()[0]!.conf.memory);

  it("approving through the sidecar applies the saved plan of the create", async () => {
    await h.apply(manual(2048));
    const waiting = await h.waitForVm("reviewed", pendingOtherThan(undefined));
    const pending = waiting!.status!.pendingPlan!;
    expect(pending.summary).toBe("1 to add, 0 to change, 0 to destroy");
    expect(pending.changes).toContain("memory.dedicated: (none) → 2048");
    const created = await plan(pending.runId);
    expect(created.planned!.resources[0]).toMatchObject({ address: "proxmox_virtual_environment_vm.vm", actions: ["create"], replace: false });
    expect(h.simVms()).toHaveLength(0);

    expect((await post("approve", { runId: "00000000-0000-4000-8000-000000000000" })).status).toBe(409);
    const approved = await post("approve", { runId: pending.runId });
    expect(approved.status).toBe(202);
    expect(await approved.json()).toMatchObject({ approved: true, runId: pending.runId });
    const ready = await h.waitForReady("reviewed", 1);
    expect(ready!.status!.pendingPlan).toBeUndefined();
    expect(memoryOnProxmox()).toBe(2048);
    const applyRun = ready!.status!.lastRun!.id;
    expect((await plan(applyRun)).planRunId).toBe(pending.runId);
    const applyCommands = await commands(applyRun);
    expect(applyCommands.some((c) => / apply .*\.tfplan$/.test(c))).toBe(true);
    expect(applyCommands.some((c) => / plan /.test(c))).toBe(false);
  });

  it("shows memory.dedicated 2048 → 3072 in both diffs and applies that plan once approved", async () => {
    await h.apply(manual(3072));
    const waiting = await h.waitForVm("reviewed", (v) => pendingOtherThan(undefined)(v) && v!.metadata.generation === 2);
    const pending = waiting!.status!.pendingPlan!;
    expect(pending.changes).toContain("memory.dedicated: 2048 → 3072");
    const diff = await plan(pending.runId);
    expect(diff.desired!.changes).toEqual([{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }]);
    const [vm] = diff.planned!.resources;
    expect(vm).toMatchObject({ actions: ["update"], replace: false });
    expect(vm!.changes).toContainEqual({ path: "memory.dedicated", action: "change", before: 2048, after: 3072 });

    // The plan's run id approves it as well as approveWith (the spec hash here) does.
    expect(pending.approveWith).toBe(pending.specHash);
    await kubectl(["annotate", "--overwrite", "-n", h.namespace, "pvm", "reviewed", `${APPROVE}=${pending.runId}`]);
    const ready = await h.waitForReady("reviewed", 2);
    expect(memoryOnProxmox()).toBe(3072);
    const applyRun = ready!.status!.lastRun!.id;
    expect((await plan(applyRun)).planRunId).toBe(pending.runId);
    expect((await commands(applyRun)).some((c) => / plan /.test(c))).toBe(false);
  });

  it("refuses a plan Proxmox moved away from, plans again and waits for a new approval", async () => {
    await h.apply(manual(4096));
    const waiting = await h.waitForVm("reviewed", (v) => pendingOtherThan(undefined)(v) && v!.metadata.generation === 3);
    const stale = waiting!.status!.pendingPlan!;
    h.simVms()[0]!.conf.cores = "3"; // someone changed the VM in the Proxmox UI

    await kubectl(["annotate", "--overwrite", "-n", h.namespace, "pvm", "reviewed", `${APPROVE}=${stale.approveWith}`]);
    const again = await h.waitForVm("reviewed", pendingOtherThan(stale.runId));
    const fresh = again!.status!.pendingPlan!;
    // The hash was approved already: only the new plan's run id approves the new plan.
    expect(fresh.approveWith).toBe(fresh.runId);
    expect(memoryOnProxmox()).toBe(3072);
    const events = await kubectl(["get", "events", "-n", h.namespace, "--field-selector", "reason=PlanStale", "-o", "jsonpath={.items[*].message}"]);
    expect(events).toContain(`plan ${stale.runId}`);
    await waitFor("the stale approval's run to leave the queue", async () => (await h.runJobState("reviewed")) === undefined);
    expect(memoryOnProxmox()).toBe(3072);

    await kubectl(["annotate", "--overwrite", "-n", h.namespace, "pvm", "reviewed", `${APPROVE}=${fresh.approveWith}`]);
    await h.waitForVm("reviewed", (v) => v?.status?.pendingPlan === undefined && v?.status?.lastRun?.result === "succeeded" && Number(h.simVms()[0]!.conf.memory) === 4096);
  });

  it("a discarded plan is not applied", async () => {
    await h.apply(manual(5120));
    const waiting = await h.waitForVm("reviewed", (v) => pendingOtherThan(undefined)(v) && v!.metadata.generation === 4);
    const pending = waiting!.status!.pendingPlan!;
    const discarded = await post("discard", { runId: pending.runId });
    expect(discarded.status).toBe(202);
    const after = await h.waitForVm("reviewed", (v) => v?.status?.pendingPlan === undefined);
    const reconciling = after!.status!.conditions!.find((c) => c.type === "Reconciling");
    expect(reconciling).toMatchObject({ reason: "PlanDiscarded" });
    expect(reconciling!.message).toContain("ptm-sidecar-admin-token");
    await waitFor("no run queued after the discard", async () => (await h.runJobState("reviewed")) === undefined);
    expect(memoryOnProxmox()).toBe(4096);
    expect((await post("discard")).status).toBe(409);
  });

  it("shows a replacement as such: the plan, its status lines, and what forces it", async () => {
    // Someone migrates the VM on Proxmox: the plan can put node_name back only by re-creating it.
    const vmId = h.simVms()[0]!.vmid;
    const upid = (await proxmoxCall(h.sim, "POST", `/nodes/pve1/qemu/${vmId}/migrate`, { target: "pve2", online: "1", "with-local-disks": "1" })) as string;
    expect((await waitForTask(h.sim, upid)).exitstatus).toBe("OK");
    await h.apply(proxmoxVm("reviewed", { approval: "Manual", memory: { dedicated: 5120 }, allowReplacement: true }));
    const waiting = await h.waitForVm("reviewed", (v) => pendingOtherThan(undefined)(v) && v!.metadata.generation === 5);
    const pending = waiting!.status!.pendingPlan!;
    expect(pending.summary).toBe("1 to add, 0 to change, 1 to destroy");
    expect(pending.changes[0]).toBe("proxmox_virtual_environment_vm.vm is REPLACED (forced by node_name)");
    const [vm] = (await plan(pending.runId)).planned!.resources;
    expect(vm).toMatchObject({ actions: ["delete", "create"], replace: true, replacedBy: ["node_name"] });
    expect(vm!.changes).toContainEqual({ path: "node_name", action: "change", before: "pve2", after: "pve1" });
    expect(h.simVms().map((v) => v.node)).toEqual(["pve2"]);
  });
});

describe("drift under Manual approval", () => {
  const h = useOperatorHarness({ env: { PTM_DRIFT_INTERVAL: "3s" } });

  it("a Report-mode drift check yields a plan that is approved like any other, and applied", async () => {
    await h.apply(proxmoxVm("watched", { approval: "Manual", driftDetection: { mode: "Report" }, memory: { dedicated: 2048 } }));
    const created = (await h.waitForVm("watched", (v) => v?.status?.pendingPlan !== undefined))!.status!.pendingPlan!;
    await kubectl(["annotate", "-n", h.namespace, "pvm", "watched", `${APPROVE}=${created.approveWith}`]);
    const ready = await h.waitForReady("watched", 1);
    const vmId = ready!.status!.vmId!;

    h.sim.state().vms[vmId]!.conf.memory = "1536"; // someone resized it in the Proxmox UI
    const drifted = await h.waitForVm("watched", (v) => v?.status?.pendingPlan !== undefined);
    const plan = drifted!.status!.pendingPlan!;
    expect(plan.changes).toContain("memory.dedicated: 1536 → 2048");
    // The spec's hash was approved already: this plan needs its own approval, by its run id.
    expect(plan.approveWith).toBe(plan.runId);
    expect(h.sim.state().vms[vmId]!.conf.memory).toBe("1536");

    await kubectl(["annotate", "--overwrite", "-n", h.namespace, "pvm", "watched", `${APPROVE}=${plan.approveWith}`]);
    await h.waitForVm("watched", (v) => v?.status?.pendingPlan === undefined && v?.status?.lastRun?.id !== plan.runId && v?.status?.lastRun?.result === "succeeded");
    expect(h.sim.state().vms[vmId]!.conf.memory).toBe("2048");
  });
});
