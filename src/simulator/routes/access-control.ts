/**
 * /access/permissions, /access/acl and /access/roles, after pve-access-control's
 * API2/AccessControl.pm (permissions), API2/ACL.pm and API2/Role.pm.
 */
import { fail, paramError } from "../errors.js";
import {
  accessControlOf,
  effectivePermissions,
  isValidAclPath,
  normalizeAclPath,
  permissionsOn,
  privilegeSetJson,
  rolePrivileges,
  tokenOwnerOf,
  checkPrivileges,
  type AclSubjectType,
} from "../permissions.js";
import { BUILTIN_ROLES, isBuiltinRole } from "../privileges.js";
import type { Router } from "../router.js";
import { verify } from "./common.js";

const USERID_OR_TOKEN = /[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+(![A-Za-z][A-Za-z0-9.\-_]+)?/;

function list(value: string | undefined): string[] {
  return (value ?? "").split(/[,;\s]+/).filter(Boolean);
}

export function registerAccessControlRoutes(router: Router): void {
  router.get("/access/permissions", (req) => {
    const p = verify(req, { userid: { type: "string", optional: true, pattern: USERID_OR_TOKEN }, path: { type: "string", optional: true } });
    const { state } = req.ctx;
    const userid = p.userid ?? req.user;
    // Everyone may read their own permissions and those of their tokens; others need Sys.Audit on /access.
    if (userid !== req.user && tokenOwnerOf(userid) !== req.user) checkPrivileges(state, req.user, "/access", ["Sys.Audit"]);
    if (p.path) return { [p.path]: privilegeSetJson(permissionsOn(state, userid, p.path)) };
    return Object.fromEntries(Object.entries(effectivePermissions(state, userid)).map(([path, privs]) => [path, privilegeSetJson(privs)]));
  });

  router.get("/access/acl", (req) => {
    verify(req, {});
    return accessControlOf(req.ctx.state).acl.map((e) => ({ path: e.path, type: e.type, ugid: e.ugid, roleid: e.roleid, propagate: e.propagate ? 1 : 0 }));
  });

  router.put("/access/acl", (req) => {
    const p = verify(req, {
      path: { type: "string" },
      roles: { type: "string" },
      users: { type: "string", optional: true },
      groups: { type: "string", optional: true },
      tokens: { type: "string", optional: true },
      propagate: { type: "boolean", optional: true },
      delete: { type: "boolean", optional: true },
    });
    if (!p.users && !p.groups && !p.tokens) {
      const message = "either 'users', 'groups' or 'tokens' is required.";
      throw paramError({ users: message, groups: message, tokens: message });
    }
    const path = normalizeAclPath(p.path as string);
    const remove = p.delete === "1";
    if (!path || (!remove && !isValidAclPath(path))) throw paramError({ path: `invalid ACL path '${p.path}'` });
    const { state } = req.ctx;
    const access = accessControlOf(state);
    const propagate = p.propagate === undefined ? true : p.propagate === "1";
    const subjects: Array<[AclSubjectType, string]> = [
      ...list(p.groups).map((g): [AclSubjectType, string] => ["group", g]),
      ...list(p.users).map((u): [AclSubjectType, string] => ["user", u]),
      ...list(p.tokens).map((t): [AclSubjectType, string] => ["token", t]),
    ];
    for (const role of list(p.roles)) {
      if (!rolePrivileges(state, role)) throw fail(`role '${role}' does not exist`);
      for (const [type, ugid] of subjects) {
        if (type === "group" && !access.groups[ugid]) throw fail(`group '${ugid}' does not exist`);
        if (type === "user" && !state.users[ugid]) throw fail(`user '${ugid}' does not exist`);
        if (type === "token" && !state.tokens.some((t) => t.id === ugid)) throw fail(`no such token '${ugid.split("!")[1] ?? ugid}' for user '${tokenOwnerOf(ugid) ?? ugid}'`);
        access.acl = access.acl.filter((e) => !(e.path === path && e.type === type && e.ugid === ugid && e.roleid === role));
        if (!remove) access.acl.push({ path, type, ugid, roleid: role, propagate });
      }
    }
    req.ctx.changed();
    return null;
  });

  router.get("/access/roles", (req) => {
    verify(req, {});
    const custom = accessControlOf(req.ctx.state).roles;
    const all = { ...custom, ...BUILTIN_ROLES };
    return Object.keys(all)
      .sort()
      .map((roleid) => ({ roleid, privs: (all[roleid] ?? []).join(","), special: isBuiltinRole(roleid) ? 1 : 0 }));
  });

  router.get("/access/roles/{roleid}", (req) => {
    verify(req, { roleid: { type: "string" } });
    const privs = rolePrivileges(req.ctx.state, req.path.roleid as string);
    if (!privs) throw fail(`role '${req.path.roleid}' does not exist`);
    return Object.fromEntries(privs.map((priv) => [priv, 1]));
  });
}
