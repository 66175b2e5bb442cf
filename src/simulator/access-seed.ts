/**
 * The seed's access control: custom roles, groups and ACL entries (user.cfg). A seed without an
 * `acl` list describes an open cluster, so every seed written before privileges existed keeps
 * working: each user and each API token gets `Administrator` on `/` (propagating). A seed with
 * an `acl` list gets exactly those entries (an empty list: nobody but root@pam may do anything).
 */
import { z } from "zod";
import { isValidAclPath, normalizeAclPath, type AccessControlState, type AclEntry } from "./permissions.js";
import { isBuiltinRole, isPrivilege } from "./privileges.js";

const roleId = z.string().regex(/^[A-Za-z0-9.\-_]+$/, "must be a valid role id");
const groupId = z.string().regex(/^[A-Za-z0-9.\-_]+$/, "must be a valid group id");

const aclEntry = z
  .object({
    path: z.string().min(1),
    role: roleId,
    user: z.string().optional(),
    group: groupId.optional(),
    token: z.string().optional(),
    propagate: z.boolean().default(true),
  })
  .refine((e) => [e.user, e.group, e.token].filter((x) => x !== undefined).length === 1, "needs exactly one of user, group or token");

/** Seed fields (spread into the seed schema). */
export const accessSeedFields = {
  /** Custom roles; built-in ones (Administrator, PVEVMAdmin, ...) always exist. */
  roles: z.array(z.object({ id: roleId, privs: z.array(z.string()) })).default([]),
  groups: z.array(z.object({ id: groupId, users: z.array(z.string()).default([]), comment: z.string().optional() })).default([]),
  /** Absent: every user and token is Administrator on `/`. */
  acl: z.array(aclEntry).optional(),
};

export interface AccessSeed {
  roles: Array<{ id: string; privs: string[] }>;
  groups: Array<{ id: string; users: string[]; comment?: string }>;
  acl?: Array<z.output<typeof aclEntry>>;
}

/** Cross-reference problems, each with its path in the seed. */
export function accessSeedProblems(seed: AccessSeed, users: Set<string>, tokens: Set<string> | undefined): string[] {
  const problems: string[] = [];
  const roles = new Set<string>();
  seed.roles.forEach((r, i) => {
    if (isBuiltinRole(r.id)) problems.push(`  roles.${i}.id: '${r.id}' is a built-in role`);
    roles.add(r.id);
    r.privs.forEach((p, j) => {
      if (!isPrivilege(p)) problems.push(`  roles.${i}.privs.${j}: invalid privilege '${p}'`);
    });
  });
  const groups = new Set(seed.groups.map((g) => g.id));
  seed.groups.forEach((g, i) =>
    g.users.forEach((u, j) => {
      if (!users.has(u)) problems.push(`  groups.${i}.users.${j}: user '${u}' does not exist`);
    }),
  );
  (seed.acl ?? []).forEach((e, i) => {
    const path = normalizeAclPath(e.path);
    if (!path || !isValidAclPath(path)) problems.push(`  acl.${i}.path: invalid ACL path '${e.path}'`);
    if (!isBuiltinRole(e.role) && !roles.has(e.role)) problems.push(`  acl.${i}.role: role '${e.role}' does not exist`);
    if (e.user !== undefined && !users.has(e.user)) problems.push(`  acl.${i}.user: user '${e.user}' does not exist`);
    if (e.group !== undefined && !groups.has(e.group)) problems.push(`  acl.${i}.group: group '${e.group}' does not exist`);
    if (e.token !== undefined && tokens && !tokens.has(e.token)) problems.push(`  acl.${i}.token: token '${e.token}' does not exist`);
  });
  return problems;
}

/** The access-control state a seed starts with (see the module comment for the open default). */
export function accessFromSeed(seed: AccessSeed, userIds: string[], tokenIds: string[]): AccessControlState {
  const acl: AclEntry[] =
    seed.acl === undefined
      ? [
          ...userIds.map((ugid): AclEntry => ({ path: "/", type: "user", ugid, roleid: "Administrator", propagate: true })),
          ...tokenIds.map((ugid): AclEntry => ({ path: "/", type: "token", ugid, roleid: "Administrator", propagate: true })),
        ]
      : seed.acl.map((e) => ({
          path: normalizeAclPath(e.path) as string,
          type: e.user !== undefined ? "user" : e.group !== undefined ? "group" : "token",
          ugid: (e.user ?? e.group ?? e.token) as string,
          roleid: e.role,
          propagate: e.propagate,
        }));
  return {
    roles: Object.fromEntries(seed.roles.map((r) => [r.id, [...new Set(r.privs)].sort()])),
    groups: Object.fromEntries(seed.groups.map((g) => [g.id, { users: [...g.users], ...(g.comment ? { comment: g.comment } : {}) }])),
    acl,
  };
}
