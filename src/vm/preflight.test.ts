import { describe, expect, it } from "vitest";
import { Reason } from "../api/conditions.js";
import { ProxmoxVMSpecSchema } from "../api/proxmox-vm.js";
import type { ConnectionInventory } from "../api/status.js";
import { preflight, type GuestInfo } from "./preflight.js";

const inventory: ConnectionInventory = {
  nodes: [
    { name: "pve1", online: true, cpus: 8, memoryMiB: 65536 },
    { name: "pve2", online: false },
  ],
  storages: [
    { node: "pve1", id: "local", type: "dir", content: ["iso", "snippets", "vztmpl"], availableMiB: 100 * 1024, active: true },
    { node: "pve1", id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"], availableMiB: 50 * 1024, active: true },
    { node: "pve1", id: "fast", type: "lvmthin", content: ["images"], availableMiB: 500 * 1024, active: true },
  ],
  bridges: [{ node: "pve1", name: "vmbr0" }],
  templates: [{ vmid: 9000, name: "ubuntu-24.04-cloud", node: "pve1" }],
};
const guests = new Map<number, GuestInfo>([
  [9000, { vmid: 9000, node: "pve1", name: "ubuntu-24.04-cloud", template: true }],
  [120, { vmid: 120, node: "pve1", name: "db", template: false }],
]);

const spec = (over: Record<string, unknown> = {}) =>
  ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, disks: [{ interface: "scsi0", size: 20 }], networkDevices: [{ bridge: "vmbr0" }], ...over });

const check = (over: Record<string, unknown> = {}, extra: { missing?: Record<string, string[]>; pinned?: number } = {}) =>
  preflight({ spec: spec(over), inventory, guests, missingPrivileges: extra.missing ?? {}, pinnedVmId: extra.pinned });

describe("preflight", () => {
  it("passes a spec that names what the connection has", () => {
    expect(check()).toEqual([]);
  });

  it("names an unknown node and lists the nodes", () => {
    expect(check({ nodeName: "pve9" })).toEqual([{ reason: Reason.NodeNotFound, field: "spec.nodeName", message: "spec.nodeName pve9: no such node in the cluster; nodes: pve1, pve2", waits: false }]);
  });

  it("waits for an offline node instead of stalling", () => {
    expect(check({ nodeName: "pve2" })).toMatchObject([{ reason: Reason.NodeOffline, waits: true }]);
  });

  it("names a missing template and lists the templates", () => {
    expect(check({ clone: { vmId: 9999 } })).toEqual([
      { reason: Reason.CloneSourceNotFound, field: "spec.clone.vmId", message: "spec.clone.vmId 9999: no template with this id; templates: 9000 ubuntu-24.04-cloud (pve1)", waits: false },
    ]);
  });

  it("says when the clone source is a plain VM and what that means", () => {
    const [issue] = check({ clone: { vmId: 120 } });
    expect(issue?.reason).toBe(Reason.CloneSourceNotFound);
    expect(issue?.message).toContain("spec.clone.vmId 120: db on pve1 is a VM, not a template");
    expect(issue?.message).toContain("qm template 120");
  });

  it("names a template on another node", () => {
    expect(check({ nodeName: "pve1", clone: { vmId: 9000, nodeName: "pve3" } })[0]?.message).toBe(
      "spec.clone.vmId 9000 (ubuntu-24.04-cloud) is on pve1, not on pve3: set spec.clone.nodeName: pve1",
    );
  });

  it("names a missing datastore, one without disk images, and lists the ones that hold images", () => {
    expect(check({ disks: [{ interface: "scsi0", datastoreId: "nvme", size: 20 }] })).toEqual([
      { reason: Reason.StorageNotFound, field: "spec.disks[0].datastoreId", message: "spec.disks[0].datastoreId nvme: no such datastore on pve1; datastores for disks on pve1: fast, local-lvm", waits: false },
    ]);
    expect(check({ disks: [{ interface: "scsi0", datastoreId: "local", size: 20 }] })[0]?.message).toContain("datastore local does not hold disk images (content: iso,snippets,vztmpl)");
  });

  it("names a missing bridge and lists the bridges", () => {
    expect(check({ networkDevices: [{ bridge: "vmbr0" }, { bridge: "vmbr9" }] })).toEqual([
      { reason: Reason.BridgeNotFound, field: "spec.networkDevices[1].bridge", message: "spec.networkDevices[1].bridge vmbr9: no such bridge on pve1; bridges: vmbr0", waits: false },
    ]);
  });

  it("refuses new disks that do not fit the free space, and only for a VM being made", () => {
    const big = { disks: [{ interface: "scsi0", size: 40 }, { interface: "scsi1", size: 20 }] };
    expect(check(big)).toMatchObject([{ reason: Reason.InsufficientStorage, field: "spec.disks[0].datastoreId" }]);
    expect(check(big)[0]?.message).toContain("need 60 GiB but local-lvm on pve1 has 50 GiB free");
    expect(check(big, { pinned: 101 })).toEqual([]);
  });

  it("refuses a chosen vmId another guest has", () => {
    expect(check({ vmId: 120 })).toMatchObject([{ reason: Reason.InvalidSpec, field: "spec.vmId" }]);
    expect(check({ vmId: 121 })).toEqual([]);
  });

  it("names a privilege the token lacks on the template, a datastore or a bridge", () => {
    const issues = check({}, { missing: { "/vms/9000": ["VM.Clone"], "/storage/local-lvm": ["Datastore.AllocateSpace"], "/sdn/zones/localnetwork/vmbr0": ["SDN.Use"] } });
    expect(issues.map((i) => [i.reason, i.field])).toEqual([
      [Reason.PermissionDenied, "spec.clone.vmId"],
      [Reason.PermissionDenied, "spec.disks[0].datastoreId"],
      [Reason.PermissionDenied, "spec.networkDevices[0].bridge"],
    ]);
    expect(issues[0]?.message).toBe("spec.clone.vmId 9000: the token lacks VM.Clone on /vms/9000: grant them to clone this template");
  });
});
