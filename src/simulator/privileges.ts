/**
 * The privilege catalogue and the built-in roles, after pve-access-control's
 * PVE/AccessControl.pm (`$privgroups`, `create_roles`): privileges come in groups (VM, Sys,
 * Datastore, SDN, User, Pool, Mapping), each split into root / admin / user / audit tiers, and the
 * built-in roles are derived from the tiers:
 *
 * - `PVE<Group>Admin`: the group's admin, user and audit privileges; `PVEAdmin`: all of those
 *   (without Mapping.Modify); `PVE<Group>User`: user and audit (for groups with user privileges);
 *   `PVEAuditor`: every audit privilege; `PVETemplateUser`: VM.Clone and VM.Audit;
 * - `Administrator`: every privilege, root-tier ones and Permissions.Modify included;
 *   `NoAccess`: none, and it overrides every other role on its path.
 */

type Tiers = { root: string[]; admin: string[]; user: string[]; audit: string[] };

const PRIVILEGE_GROUPS: Record<string, Tiers> = {
  VM: {
    root: [],
    admin: [
      "VM.Config.Disk",
      "VM.Config.CPU",
      "VM.Config.Memory",
      "VM.Config.Network",
      "VM.Config.HWType",
      "VM.Config.Options",
      "VM.Allocate",
      "VM.Clone",
      "VM.GuestAgent.Unrestricted",
      "VM.Migrate",
      "VM.Replicate",
      "VM.Snapshot",
      "VM.Snapshot.Rollback",
    ],
    user: [
      "VM.Config.CDROM",
      "VM.Config.Cloudinit",
      "VM.Console",
      "VM.Backup",
      "VM.GuestAgent.FileRead",
      "VM.GuestAgent.FileSystemMgmt",
      "VM.GuestAgent.FileWrite",
      "VM.PowerMgmt",
    ],
    audit: ["VM.Audit", "VM.GuestAgent.Audit"],
  },
  Sys: {
    root: ["Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"],
    admin: ["Sys.Console", "Sys.Syslog"],
    user: [],
    audit: ["Sys.Audit"],
  },
  Datastore: {
    root: [],
    admin: ["Datastore.Allocate", "Datastore.AllocateTemplate"],
    user: ["Datastore.AllocateSpace"],
    audit: ["Datastore.Audit"],
  },
  SDN: { root: [], admin: ["SDN.Allocate", "SDN.Audit"], user: ["SDN.Use"], audit: ["SDN.Audit"] },
  User: { root: ["Realm.Allocate"], admin: ["User.Modify", "Group.Allocate", "Realm.AllocateUser"], user: [], audit: [] },
  Pool: { root: [], admin: ["Pool.Allocate"], user: ["Pool.Audit"], audit: ["Pool.Audit"] },
  Mapping: { root: [], admin: ["Mapping.Modify"], user: ["Mapping.Use"], audit: ["Mapping.Audit"] },
};

function buildCatalogue(): { privileges: Set<string>; roles: Map<string, Set<string>> } {
  const privileges = new Set<string>(["Permissions.Modify"]);
  const roles = new Map<string, Set<string>>([["NoAccess", new Set()]]);
  const role = (name: string) => {
    let set = roles.get(name);
    if (!set) roles.set(name, (set = new Set()));
    return set;
  };
  for (const [group, tiers] of Object.entries(PRIVILEGE_GROUPS)) {
    for (const p of [...tiers.root, ...tiers.admin, ...tiers.user, ...tiers.audit]) privileges.add(p);
    for (const p of [...tiers.admin, ...tiers.user, ...tiers.audit]) {
      role(`PVE${group}Admin`).add(p);
      role("PVEAdmin").add(p);
    }
    if (tiers.user.length > 0) for (const p of [...tiers.user, ...tiers.audit]) role(`PVE${group}User`).add(p);
    for (const p of tiers.audit) role("PVEAuditor").add(p);
  }
  // Only Administrator, root@pam and PVEMappingAdmin may modify mappings.
  role("PVEAdmin").delete("Mapping.Modify");
  roles.set("PVETemplateUser", new Set(["VM.Clone", "VM.Audit"]));
  roles.set("Administrator", new Set(privileges));
  return { privileges, roles };
}

const CATALOGUE = buildCatalogue();

/** Every privilege Proxmox knows. */
export const ALL_PRIVILEGES: readonly string[] = [...CATALOGUE.privileges].sort();

export function isPrivilege(name: string): boolean {
  return CATALOGUE.privileges.has(name);
}

/** The built-in roles by name (sorted privileges); they cannot be changed or deleted. */
export const BUILTIN_ROLES: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  [...CATALOGUE.roles.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, privs]) => [name, [...privs].sort()]),
);

export function isBuiltinRole(name: string): boolean {
  return Object.hasOwn(BUILTIN_ROLES, name);
}
