/**
 * Never replace or lose a VM (issue 12): a plan that would destroy and re-create a VM is refused,
 * naming what forces it, until the user opts in; a VM whose Terraform state was lost is adopted
 * in place, keeping its id and its disks.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/api/conditions.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { DEFAULT_SEED } from "../../src/simulator/index.js";
import { proxmoxVm } from "../support/manifests.js";
import { withPg } from "../support/platform-data.js";
import { proxmoxCall, waitForTask } from "../support/proxmox-call.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const TWO_NODES = { ...DEFAULT_SEED, nodes: [...DEFAULT_SEED.nodes, { name: "pve2", cpus: 8, memoryGiB: 64, bridges: ["vmbr0"] }] };

/** The volumes a VM's drives use, by drive key (scsi0 → local-lvm:vm-100-disk-0, ...). */
function diskVolumes(conf: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(conf)) {
    if (/^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$/.test(key)) out[key] = String(value).split(",")[0]!;
  }
  return out;
}

function condition(vm: ProxmoxVMObject | undefined, type: string) {
  return vm?.status?.conditions?.find((c) => c.type === type);
}

describe("never replace or lose a VM", () => {
  const h = useOperatorHarness({ simulator: { config: TWO_NODES } });

  async function lastRun(name: string) {
    const { rows } = await withPg((c) =>
      c.query<{ status: string; add_count: number | null; change_count: number | null; destroy_count: number | null }>(
        `select status, add_count, change_count, destroy_count from ${h.dbSchema}.runs where namespace = $1 and name = $2 order by created_at desc limit 1`,
        [h.namespace, name],
      ),
    );
    return rows[0];
  }

  it("refuses a replacement, naming the attribute that forces it, and replaces the VM only with spec.allowReplacement", async () => {
    await h.apply(proxmoxVm("moved", { memory: { dedicated: 1024 } }));
    const ready = await h.waitForReady("moved", 1);
    const vmId = ready!.status!.vmId!;
    const volumes = diskVolumes(h.sim.state().vms[vmId]!.conf);
    expect(Object.keys(volumes).length).toBeGreaterThan(0);

    // Someone migrates the VM to another node on Proxmox: the provider then plans node_name back
    // to pve1, which it can only do by destroying and re-creating the VM.
    const upid = (await proxmoxCall(h.sim, "POST", `/nodes/pve1/qemu/${vmId}/migrate`, { target: "pve2", online: "1", "with-local-disks": "1" })) as string;
    expect((await waitForTask(h.sim, upid)).exitstatus).toBe("OK");
    expect(h.sim.state().vms[vmId]!.node).toBe("pve2");

    await h.apply(proxmoxVm("moved", { memory: { dedicated: 2048 } }));
    const stalled = await h.waitForVm("moved", (v) => condition(v, "Stalled")?.status === "True" && condition(v, "Stalled")?.observedGeneration === 2, 180_000);
    const message = condition(stalled, "Stalled")!.message ?? "";
    expect(condition(stalled, "Stalled")!.reason).toBe(Reason.ReplacementRequired);
    expect(message).toContain('forced by node_name (spec.nodeName): Proxmox has "pve2", the spec says "pve1"');
    expect(message).toContain("spec.allowReplacement: true");
    expect(message).not.toContain("Nothing was rolled back");
    // Refused before anything changed, and not retried.
    await waitFor("the refused run to leave the queue", async () => (await h.runJobState("moved")) === undefined);
    expect((await lastRun("moved"))?.status).toBe("failed");
    const kept = h.simVms();
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ vmid: vmId, node: "pve2" });
    expect(diskVolumes(kept[0]!.conf)).toEqual(volumes);
    expect(kept[0]!.conf.memory).toBe("1024");

    // The user opts in: the VM is destroyed and made again where the spec says, with the same id.
    await h.apply(proxmoxVm("moved", { memory: { dedicated: 2048 }, allowReplacement: true }));
    await h.waitForReady("moved", 3, 240_000);
    const replaced = h.simVms();
    expect(replaced).toHaveLength(1);
    expect(replaced[0]).toMatchObject({ vmid: vmId, node: "pve1" });
    expect(replaced[0]!.conf.memory).toBe("2048");
    expect(await lastRun("moved")).toMatchObject({ status: "succeeded", add_count: 1, destroy_count: 1 });
  }, 600_000);

  it("migrates a VM when nodeName changes with spec.migrate: true (same id, same disks), refuses the change at admission without it", async () => {
    await h.apply(proxmoxVm("roaming", { memory: { dedicated: 1024 } }));
    const ready = await h.waitForReady("roaming", 1);
    const vmId = ready!.status!.vmId!;
    const volumes = diskVolumes(h.sim.state().vms[vmId]!.conf);

    await expect(h.apply(proxmoxVm("roaming", { nodeName: "pve2", memory: { dedicated: 1024 } }))).rejects.toThrow(
      "nodeName can change only with migrate: true (the VM is then migrated to the new node)",
    );
    await h.apply(proxmoxVm("roaming", { nodeName: "pve2", migrate: true, memory: { dedicated: 1024 } }));
    const moved = await h.waitForReady("roaming", 2, 240_000);
    expect(moved!.status).toMatchObject({ vmId, node: "pve2" });
    const vms = h.simVms().filter((v) => v.vmid === vmId);
    expect(vms).toHaveLength(1);
    expect(vms[0]!.node).toBe("pve2");
    expect(diskVolumes(vms[0]!.conf)).toEqual(volumes);
    expect(await lastRun("roaming")).toMatchObject({ status: "succeeded", add_count: 0, change_count: 1, destroy_count: 0 });

    // Moved back on Proxmox by someone: with migrate on, the operator migrates it to pve2 again.
    const upid = (await proxmoxCall(h.sim, "POST", `/nodes/pve2/qemu/${vmId}/migrate`, { target: "pve1", online: "1", "with-local-disks": "1" })) as string;
    expect((await waitForTask(h.sim, upid)).exitstatus).toBe("OK");
    await h.apply(proxmoxVm("roaming", { nodeName: "pve2", migrate: true, memory: { dedicated: 2048 } }));
    await h.waitForReady("roaming", 3, 240_000);
    expect(h.sim.state().vms[vmId]).toMatchObject({ node: "pve2" });
    expect(diskVolumes(h.sim.state().vms[vmId]!.conf)).toEqual(volumes);
    expect(await lastRun("roaming")).toMatchObject({ status: "succeeded", add_count: 0, destroy_count: 0 });
  }, 600_000);

  it("adopts a VM whose state was lost (row deleted, then row and work directory) in place: same id, same disks, nothing destroyed", async () => {
    await h.apply(proxmoxVm("restored", { memory: { dedicated: 1024 }, started: false }));
    const ready = await h.waitForReady("restored", 1);
    const vmId = ready!.status!.vmId!;
    const volumes = diskVolumes(h.sim.state().vms[vmId]!.conf);
    const workspace = `${h.namespace}.restored`;
    const deleteStateRow = () => withPg((c) => c.query(`delete from ${h.stateSchema}.states where name = $1`, [workspace]));

    // A database restored from an older backup: the row is gone, the work directory still selects the workspace.
    expect((await deleteStateRow()).rowCount).toBe(1);
    await h.apply(proxmoxVm("restored", { memory: { dedicated: 2048 }, started: false }));
    await h.waitForReady("restored", 2, 240_000);
    expect(await lastRun("restored")).toMatchObject({ status: "succeeded", add_count: 0, destroy_count: 0 });

    // Also a new pod: the work directory is gone too.
    expect((await deleteStateRow()).rowCount).toBe(1);
    await rm(path.join(h.workdir, `${h.namespace}.restored.${ready!.metadata.uid.slice(0, 8)}`), { recursive: true, force: true });
    await h.apply(proxmoxVm("restored", { memory: { dedicated: 3072 }, started: false }));
    await h.waitForReady("restored", 3, 240_000);
    expect(await lastRun("restored")).toMatchObject({ status: "succeeded", add_count: 0, destroy_count: 0 });

    const vms = h.simVms().filter((v) => String(v.conf.tags ?? "").split(";").includes(`ptm-owner-${ready!.metadata.uid}`));
    expect(vms).toHaveLength(1);
    expect(vms[0]!.vmid).toBe(vmId);
    expect(diskVolumes(vms[0]!.conf)).toEqual(volumes);
    expect(vms[0]!.conf.memory).toBe("3072");
  }, 600_000);
});
