/**
 * The Proxmox VE privileges the operator's API token needs, per kind of ACL path, with why. One
 * list: the connection check compares the token's effective privileges against it, the README's
 * "Connecting your Proxmox" section is generated from it, and the simulator's tests use it.
 * Privilege names and paths are qemu-server's and pve-manager's (`permissions` of each API method
 * the bpg provider and the operator call).
 */
export interface RequiredPrivileges {
  /** An ACL path pattern: `/vms`, `/vms/{template}`, `/storage/{datastore}`, `/sdn/zones/localnetwork/{bridge}`, `/nodes/{node}`. */
  path: string;
  privileges: readonly string[];
  why: string;
}

export const REQUIRED_PRIVILEGES: readonly RequiredPrivileges[] = [
  {
    path: "/vms",
    privileges: [
      "VM.Allocate",
      "VM.Audit",
      "VM.Config.CDROM",
      "VM.Config.CPU",
      "VM.Config.Cloudinit",
      "VM.Config.Disk",
      "VM.Config.HWType",
      "VM.Config.Memory",
      "VM.Config.Network",
      "VM.Config.Options",
      "VM.GuestAgent.Audit",
      "VM.PowerMgmt",
    ],
    why: "create (clone into a new id), configure, grow and move disks, start, stop, read IPs from the guest agent and delete the VMs it manages",
  },
  { path: "/vms/{template}", privileges: ["VM.Clone", "VM.Audit"], why: "clone each template a ProxmoxVM names" },
  { path: "/storage/{datastore}", privileges: ["Datastore.AllocateSpace", "Datastore.Audit"], why: "allocate disks and cloud-init drives on each datastore a ProxmoxVM names" },
  { path: "/sdn/zones/localnetwork/{bridge}", privileges: ["SDN.Use"], why: "attach NICs to each bridge a ProxmoxVM names" },
  { path: "/nodes/{node}", privileges: ["Sys.Audit"], why: "read node status, storages and bridges for the connection check" },
];

/** The privileges required on `kind` (one of the path patterns above). */
export function requiredOn(kind: string): readonly string[] {
  return REQUIRED_PRIVILEGES.find((r) => r.path === kind)?.privileges ?? [];
}

export const PRIVILEGES_BEGIN = "<!-- required-privileges: generated from src/api/required-privileges.ts by npm run generate:crds -->";
export const PRIVILEGES_END = "<!-- /required-privileges -->";

/** The README's table of what the token needs (between the two markers). */
export function requiredPrivilegesMarkdown(): string {
  const rows = REQUIRED_PRIVILEGES.map((r) => `| \`${r.path}\` | ${r.privileges.map((p) => `\`${p}\``).join(", ")} | ${r.why} |`);
  return [PRIVILEGES_BEGIN, "| ACL path | privileges | why |", "|---|---|---|", ...rows, PRIVILEGES_END].join("\n");
}

/** `text` with the generated table put between its markers. */
export function withRequiredPrivileges(text: string): string {
  const begin = text.indexOf(PRIVILEGES_BEGIN);
  const end = text.indexOf(PRIVILEGES_END);
  if (begin < 0 || end < begin) throw new Error("the README has no required-privileges markers");
  return text.slice(0, begin) + requiredPrivilegesMarkdown() + text.slice(end + PRIVILEGES_END.length);
}

/** Every privilege in the list: what a custom role for the operator's token holds. */
export const OPERATOR_ROLE_PRIVILEGES: readonly string[] = [...new Set(REQUIRED_PRIVILEGES.flatMap((r) => r.privileges))].sort();

/** `GET /access/permissions` without `path`: path -> privilege -> 1 (propagates) or 0. */
export type EffectivePermissions = Record<string, Record<string, number>>;

/**
 * Whether `privilege` holds on `path`, from the token's whole effective-permission tree: the
 * path's own entry when listed, else what propagates from the nearest listed ancestor (Proxmox
 * lists every path of its ACL tree, so an unlisted path inherits from the deepest listed one).
 */
export function holdsPrivilege(effective: EffectivePermissions, path: string, privilege: string): boolean {
  const own = effective[path];
  if (own) return own[privilege] !== undefined;
  const parts = path.split("/").filter(Boolean);
  for (let i = parts.length - 1; i >= 0; i--) {
    const privs = effective[i === 0 ? "/" : `/${parts.slice(0, i).join("/")}`];
    if (privs) return privs[privilege] === 1;
  }
  return false;
}
