/**
 * Who may do what, after pve-access-control's AccessControl::roles and RPCEnvironment's
 * permissions/check: ACL entries give a role to a user, group or API token on a path
 * (`/`, `/vms/100`, `/storage/local-lvm`, `/nodes/pve1`, `/pool/dev`, `/sdn/zones/localnetwork/vmbr0`),
 * optionally propagating to the paths below it.
 *
 * Walking a path from `/` down, each level whose entries apply (on the path itself, or
 * propagating) replaces what the levels above gave: the subject's token entries, else its user
 * entries, else the entries of its groups. `NoAccess` left at the end wins over everything.
 * VMs and storages in a pool also get the roles set on `/pool/<pool>` (never propagating, and
 * never over a NoAccess). root@pam has every privilege everywhere. An API token with privilege
 * separation (`privsep`, Proxmox's default) gets the privileges both it and its user have; without
 * it gets its user's. Privileges map to their propagate flag, as Proxmox reports them.
 */
import { PveError } from "./errors.js";
import { ALL_PRIVILEGES, BUILTIN_ROLES } from "./privileges.js";
import type { ClusterState } from "./state.js";

export type AclSubjectType = "user" | "group" | "token";

export interface AclEntry {
  /** Normalized path (`/vms/100`). */
  path: string;
  type: AclSubjectType;
  /** User id, group name or token id (`user@realm!name`). */
  ugid: string;
  roleid: string;
  propagate: boolean;
}

export interface GroupState {
  users: string[];
  comment?: string;
}

/** user.cfg's roles, groups and ACL tree (built-in roles are not stored, as in Proxmox). */
export interface AccessControlState {
  roles: Record<string, string[]>;
  groups: Record<string, GroupState>;
  acl: AclEntry[];
}

/** privilege -> propagate flag */
export type PrivilegeSet = Map<string, boolean>;

export const ROOT_USER = "root@pam";

export function emptyAccessControl(): AccessControlState {
  return { roles: {}, groups: {}, acl: [] };
}

/** A state file from before privileges existed describes an open cluster: everyone is Administrator. */
export function accessControlOf(state: ClusterState): AccessControlState {
  if (state.access) return state.access;
  const admin = (type: AclSubjectType, ugid: string): AclEntry => ({ path: "/", type, ugid, roleid: "Administrator", propagate: true });
  state.access = {
    ...emptyAccessControl(),
    acl: [...Object.keys(state.users ?? {}).map((u) => admin("user", u)), ...state.tokens.map((t) => admin("token", t.id))],
  };
  return state.access;
}

/** The privileges of a built-in or custom role; undefined when no such role exists. */
export function rolePrivileges(state: ClusterState, roleid: string): readonly string[] | undefined {
  return BUILTIN_ROLES[roleid] ?? accessControlOf(state).roles[roleid];
}

/** PVE::AccessControl::normalize_path: single slashes, leading slash, no trailing slash. */
export function normalizeAclPath(path: string): string | undefined {
  if (!path) return undefined;
  let p = path.replace(/\/+/g, "/").replace(/\/$/, "");
  if (p === "") p = "/";
  if (!p.startsWith("/")) p = `/${p}`;
  return /^[A-Za-z0-9.\-_/]+$/.test(p) ? p : undefined;
}

/** PVE::AccessControl::check_path: the paths an ACL entry may be set on. */
export function isValidAclPath(path: string): boolean {
  const seg = "[A-Za-z0-9.\\-_]+";
  return new RegExp(
    "^(/|/access|/access/groups|/access/groups/" + seg + "|/access/realm|/access/realm/" + seg +
      "|/nodes|/nodes/" + seg + "|/pool|/pool/" + seg + "(?:/" + seg + "){0,2}" +
      "|/sdn|/sdn/zones|/sdn/zones/" + seg + "|/sdn/zones/" + seg + "/" + seg + "|/sdn/zones/" + seg + "/" + seg + "/[1-9][0-9]{0,3}" +
      "|/sdn/(?:controllers|dns|fabrics|ipams|prefix-lists|route-maps)(?:/[A-Za-z0-9_\\-]+)?" +
      "|/storage|/storage/" + seg + "|/vms|/vms/[1-9][0-9]{2,}|/mapping|/mapping/" + seg + "|/mapping/" + seg + "/" + seg + ")$",
  ).test(path);
}

/** `user@realm!name` -> `user@realm`; undefined for a user id. */
export function tokenOwnerOf(id: string): string | undefined {
  const bang = id.indexOf("!");
  return bang > 0 ? id.slice(0, bang) : undefined;
}

/** The levels of a path from the root: `/vms/100` -> `/`, `/vms`, `/vms/100`. */
function levels(path: string): string[] {
  if (path === "/") return ["/"];
  const parts = path.split("/").filter(Boolean);
  return ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
}

/** AccessControl::roles for one subject (a user, or a token as itself): role -> propagate. */
function subjectRoles(state: ClusterState, subject: string, path: string): Map<string, boolean> {
  const access = accessControlOf(state);
  const isToken = tokenOwnerOf(subject) !== undefined;
  const groups = new Set(
    isToken ? [] : Object.entries(access.groups).filter(([, g]) => g.users.includes(subject)).map(([name]) => name),
  );
  let roles = new Map<string, boolean>();
  const all = levels(path);
  all.forEach((level, i) => {
    const final = i === all.length - 1;
    const here = access.acl.filter((e) => e.path === level && (final || e.propagate));
    const pick = (match: (e: AclEntry) => boolean) => {
      const chosen = here.filter(match);
      if (chosen.length === 0) return false;
      roles = new Map(chosen.map((e) => [e.roleid, e.propagate]));
      return true;
    };
    if (isToken && pick((e) => e.type === "token" && e.ugid === subject)) return;
    if (pick((e) => e.type === "user" && e.ugid === subject)) return;
    pick((e) => e.type === "group" && groups.has(e.ugid));
  });
  if (roles.has("NoAccess")) return new Map([["NoAccess", roles.get("NoAccess") as boolean]]);
  return roles;
}

/** The pools a `/vms/<id>` or `/storage/<id>` path belongs to. */
function poolsOf(state: ClusterState, path: string): string[] {
  const vm = /^\/vms\/(\d+)$/.exec(path);
  const storage = /^\/storage\/([^/]+)$/.exec(path);
  return Object.values(state.pools)
    .filter((p) => (vm ? p.vms.includes(Number(vm[1])) : storage ? p.storage.includes(storage[1] as string) : false))
    .map((p) => p.id);
}

/** RPCEnvironment's compile_acl_path for one subject, before any token/user intersection. */
function subjectPrivileges(state: ClusterState, subject: string, path: string): PrivilegeSet {
  const roles = subjectRoles(state, subject, path);
  if (!roles.has("NoAccess")) {
    const poolRoles = new Set(poolsOf(state, path).flatMap((pool) => [...subjectRoles(state, subject, `/pool/${pool}`).keys()]));
    if (poolRoles.has("NoAccess")) {
      roles.clear();
      roles.set("NoAccess", false);
    } else {
      for (const role of poolRoles) if (!roles.has(role)) roles.set(role, false);
    }
  }
  const privs: PrivilegeSet = new Map();
  for (const [role, propagate] of roles) {
    for (const p of rolePrivileges(state, role) ?? []) privs.set(p, (privs.get(p) ?? false) || propagate);
  }
  return privs;
}

/** RPCEnvironment::permissions: what `authid` (user or token id) may do on `path`. */
export function permissionsOn(state: ClusterState, authid: string, path: string): PrivilegeSet {
  if (authid === ROOT_USER) return new Map(ALL_PRIVILEGES.map((p) => [p, true]));
  const owner = tokenOwnerOf(authid);
  if (owner === undefined) return state.users[authid] ? subjectPrivileges(state, authid, path) : new Map();
  const token = state.tokens.find((t) => t.id === authid);
  if (!token) return new Map();
  const userPrivs = permissionsOn(state, owner, path);
  if (token.privsep === false) return userPrivs;
  const tokenPrivs = subjectPrivileges(state, authid, path);
  if (owner === ROOT_USER) return tokenPrivs;
  const both: PrivilegeSet = new Map();
  for (const [p, propagate] of tokenPrivs) {
    const fromUser = userPrivs.get(p);
    if (fromUser !== undefined) both.set(p, fromUser && propagate);
  }
  return both;
}

/** PVE::Exception::raise_perm_exc: 403 with Proxmox's text. */
export function permissionDenied(what?: string): PveError {
  return new PveError(403, what ? `Permission check failed (${what})` : "Permission check failed");
}

/** RPCEnvironment::check: every privilege is needed. */
export function checkPrivileges(state: ClusterState, authid: string, path: string, privs: readonly string[]): void {
  const have = permissionsOn(state, authid, path);
  for (const p of privs) if (!have.has(p)) throw permissionDenied(`${path}, ${p}`);
}

/** RPCEnvironment::check_any: one of the privileges is enough. */
export function checkAnyPrivilege(state: ClusterState, authid: string, path: string, privs: readonly string[]): void {
  const have = permissionsOn(state, authid, path);
  if (!privs.some((p) => have.has(p))) throw permissionDenied(`${path}, ${privs.join("|")}`);
}

export function hasPrivileges(state: ClusterState, authid: string, path: string, privs: readonly string[]): boolean {
  const have = permissionsOn(state, authid, path);
  return privs.every((p) => have.has(p));
}

/** Every path of the ACL tree, intermediate levels included (iterate_acl_tree). */
function aclTreePaths(state: ClusterState): string[] {
  return [...new Set(accessControlOf(state).acl.flatMap((e) => levels(e.path)))];
}

/** RPCEnvironment::get_effective_permissions: the privileges per path, paths with none left out. */
export function effectivePermissions(state: ClusterState, authid: string): Record<string, PrivilegeSet> {
  const paths = new Set(["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms", ...aclTreePaths(state)]);
  for (const pool of Object.values(state.pools)) {
    for (const vmid of pool.vms) paths.add(`/vms/${vmid}`);
    for (const sid of pool.storage) paths.add(`/storage/${sid}`);
  }
  const out: Record<string, PrivilegeSet> = {};
  for (const path of [...paths].sort()) {
    const privs = permissionsOn(state, authid, path);
    if (privs.size > 0) out[path] = privs;
  }
  return out;
}

/** The JSON shape of /access/permissions: privilege -> 1 (propagates) or 0. */
export function privilegeSetJson(privs: PrivilegeSet): Record<string, number> {
  return Object.fromEntries([...privs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([p, propagate]) => [p, propagate ? 1 : 0]));
}
