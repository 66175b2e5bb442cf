import { Reason } from "../api/conditions.js";
import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ConnectionInventory } from "../api/status.js";

/** A guest Proxmox has, from the connection check's full list (kept in memory, not in status). */
export interface GuestInfo {
  vmid: number;
  node: string;
  name: string;
  template: boolean;
}

export interface PreflightInput {
  spec: ProxmoxVMSpec;
  inventory: ConnectionInventory;
  /** ACL path → privileges the token lacks there. */
  missingPrivileges: Record<string, string[]>;
  /** Every guest by id, when the check listed them; undefined when only the inventory is known. */
  guests?: ReadonlyMap<number, GuestInfo>;
  /** The VM id already pinned in status: the VM exists (or is being made), so only changes are checked. */
  pinnedVmId: number | undefined;
}

export interface PreflightIssue {
  reason: Reason;
  /** The spec field at fault, e.g. spec.clone.vmId. */
  field: string;
  /** Names the field and lists valid choices. */
  message: string;
  /** True when it clears by itself (a node offline): the VM waits instead of stalling. */
  waits: boolean;
}

/** The provider's defaults where the spec leaves a datastore out. */
const DEFAULT_DATASTORE = "local-lvm";

/**
 * Checks a VM's spec against what its connection reported, before any tofu runs: the node is
 * there and online, the clone source is a template where the spec says, each datastore exists on
 * the node and holds disk images, each bridge exists, a chosen vmId is free, new disks fit, and
 * the token may use each of them. Pure: the inventory is the connection's last check.
 */
export function preflight(input: PreflightInput): PreflightIssue[] {
  const { spec, inventory } = input;
  const issues: PreflightIssue[] = [];
  const node = inventory.nodes.find((n) => n.name === spec.nodeName);
  if (!node) {
    return [
      {
        reason: Reason.NodeNotFound,
        field: "spec.nodeName",
        message: `spec.nodeName ${spec.nodeName}: no such node in the cluster; nodes: ${list(inventory.nodes.map((n) => n.name))}`,
        waits: false,
      },
    ];
  }
  if (!node.online) {
    return [{ reason: Reason.NodeOffline, field: "spec.nodeName", message: `node ${spec.nodeName} is offline: the VM waits until it is back`, waits: true }];
  }
  if (input.pinnedVmId === undefined) issues.push(...cloneIssues(input), ...vmIdIssues(input));
  issues.push(...datastoreIssues(input), ...bridgeIssues(input));
  return issues;
}

function cloneIssues({ spec, inventory, guests, missingPrivileges }: PreflightInput): PreflightIssue[] {
  const clone = spec.clone;
  if (!clone) return [];
  const field = "spec.clone.vmId";
  const templates = inventory.templates;
  const template = templates.find((t) => t.vmid === clone.vmId);
  const where = clone.nodeName ?? spec.nodeName;
  if (!template) {
    const guest = guests?.get(clone.vmId);
    const choices = `templates: ${list(templates.map((t) => `${t.vmid} ${t.name} (${t.node})`))}`;
    const message = guest
      ? `${field} ${clone.vmId}: ${guest.name || "this guest"} on ${guest.node} is a VM, not a template: Proxmox clones it only while it is stopped, and every clone copies its current disks. Convert it to a template (qm template ${clone.vmId}) or name a template; ${choices}`
      : `${field} ${clone.vmId}: no template with this id; ${choices}`;
    return [{ reason: Reason.CloneSourceNotFound, field, message, waits: false }];
  }
  const issues: PreflightIssue[] = [];
  if (template.node !== where) {
    issues.push({
      reason: Reason.CloneSourceNotFound,
      field: clone.nodeName ? "spec.clone.nodeName" : "spec.nodeName",
      message: `${field} ${clone.vmId} (${template.name}) is on ${template.node}, not on ${where}: set spec.clone.nodeName: ${template.node}`,
      waits: false,
    });
  }
  const lacking = missingPrivileges[`/vms/${clone.vmId}`];
  if (lacking?.length) {
    issues.push({ reason: Reason.PermissionDenied, field, message: `${field} ${clone.vmId}: the token lacks ${lacking.join(", ")} on /vms/${clone.vmId}: grant them to clone this template`, waits: false });
  }
  return issues;
}

function vmIdIssues({ spec, guests }: PreflightInput): PreflightIssue[] {
  if (spec.vmId === undefined || !guests) return [];
  const guest = guests.get(spec.vmId);
  if (!guest) return [];
  return [
    {
      reason: Reason.InvalidSpec,
      field: "spec.vmId",
      message: `spec.vmId ${spec.vmId}: a VM with this id already exists on ${guest.node} (${guest.name || "unnamed"}); choose a free id or leave vmId unset`,
      waits: false,
    },
  ];
}

/** Each datastore the spec uses, with the fields that name it and the GiB new disks need there. */
function datastoresOf(spec: ProxmoxVMSpec, creating: boolean): Map<string, { fields: string[]; needGiB: number }> {
  const used = new Map<string, { fields: string[]; needGiB: number }>();
  const add = (id: string | undefined, field: string, sizeGiB = 0) => {
    const key = id ?? DEFAULT_DATASTORE;
    const entry = used.get(key) ?? { fields: [], needGiB: 0 };
    entry.fields.push(field);
    entry.needGiB += creating ? sizeGiB : 0;
    used.set(key, entry);
  };
  spec.disks?.forEach((d, i) => add(d.datastoreId, `spec.disks[${i}].datastoreId`, d.size ?? 0));
  if (spec.clone?.datastoreId) add(spec.clone.datastoreId, "spec.clone.datastoreId");
  if (spec.initialization) add(spec.initialization.datastoreId, "spec.initialization.datastoreId");
  return used;
}

function datastoreIssues({ spec, inventory, missingPrivileges, pinnedVmId }: PreflightInput): PreflightIssue[] {
  const onNode = inventory.storages.filter((s) => s.node === spec.nodeName);
  const imageStores = onNode.filter((s) => s.content.includes("images"));
  const issues: PreflightIssue[] = [];
  for (const [id, use] of datastoresOf(spec, pinnedVmId === undefined)) {
    const field = use.fields[0]!;
    const storage = onNode.find((s) => s.id === id);
    const choices = `datastores for disks on ${spec.nodeName}: ${list(imageStores.map((s) => s.id).sort())}`;
    if (!storage) {
      issues.push({ reason: Reason.StorageNotFound, field, message: `${field} ${id}: no such datastore on ${spec.nodeName}; ${choices}`, waits: false });
      continue;
    }
    if (!storage.content.includes("images")) {
      issues.push({ reason: Reason.StorageNotFound, field, message: `${field} ${id}: datastore ${id} does not hold disk images (content: ${storage.content.join(",") || "none"}); ${choices}`, waits: false });
      continue;
    }
    const lacking = missingPrivileges[`/storage/${id}`];
    if (lacking?.length) issues.push({ reason: Reason.PermissionDenied, field, message: `${field} ${id}: the token lacks ${lacking.join(", ")} on /storage/${id}`, waits: false });
    if (use.needGiB > 0 && storage.availableMiB !== undefined && use.needGiB * 1024 > storage.availableMiB) {
      issues.push({
        reason: Reason.InsufficientStorage,
        field,
        message: `${field} ${id}: the new disks need ${use.needGiB} GiB but ${id} on ${spec.nodeName} has ${Math.floor(storage.availableMiB / 1024)} GiB free; free space, ask for smaller disks or use another datastore (${choices})`,
        waits: false,
      });
    }
  }
  return issues;
}

function bridgeIssues({ spec, inventory, missingPrivileges }: PreflightInput): PreflightIssue[] {
  const bridges = inventory.bridges.filter((b) => b.node === spec.nodeName).map((b) => b.name);
  const issues: PreflightIssue[] = [];
  spec.networkDevices?.forEach((nic, i) => {
    const field = `spec.networkDevices[${i}].bridge`;
    if (!bridges.includes(nic.bridge)) {
      issues.push({ reason: Reason.BridgeNotFound, field, message: `${field} ${nic.bridge}: no such bridge on ${spec.nodeName}; bridges: ${list(bridges)}`, waits: false });
      return;
    }
    const lacking = missingPrivileges[`/sdn/zones/localnetwork/${nic.bridge}`];
    if (lacking?.length) issues.push({ reason: Reason.PermissionDenied, field, message: `${field} ${nic.bridge}: the token lacks ${lacking.join(", ")} on /sdn/zones/localnetwork/${nic.bridge}`, waits: false });
  });
  return issues;
}

function list(items: string[]): string {
  return items.length ? items.join(", ") : "none";
}
