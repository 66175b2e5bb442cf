/**
 * /access: login (create_ticket, after pve-access-control's API2/AccessControl.pm), the login
 * page's dummy GET, the realm list, and the user list.
 */
import { passwordMatches, userUsable } from "../access.js";
import { PveError } from "../errors.js";
import type { Router } from "../router.js";
import { verify } from "./common.js";

/** The privileges root has (pve-access-control's privilege groups), as `cap` reports them. */
const ROOT_CAP = {
  vms: ["VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted", "VM.Migrate", "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback", "Permissions.Modify"],
  storage: ["Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit", "Permissions.Modify"],
  access: ["Group.Allocate", "Realm.Allocate", "Realm.AllocateUser", "User.Modify", "Permissions.Modify"],
  nodes: ["Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog", "Permissions.Modify"],
  dc: ["Sys.Audit", "Sys.Modify", "SDN.Allocate", "SDN.Audit", "SDN.Use"],
  sdn: ["SDN.Allocate", "SDN.Audit", "SDN.Use", "Permissions.Modify"],
  mapping: ["Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify"],
};

function authenticationFailure(): PveError {
  // Proxmox says no more, so that user names cannot be probed.
  return new PveError(401, "authentication failure");
}

export function registerAccessRoutes(router: Router): void {
  router.get("/access", (req) => {
    verify(req, {});
    return ["users", "groups", "roles", "acl", "domains", "ticket", "password"].map((subdir) => ({ subdir }));
  });

  router.get("/access/ticket", (req) => {
    verify(req, {});
    return null;
  });

  router.post("/access/ticket", (req) => {
    const p = verify(req, {
      username: { type: "string", check: (v) => (v.length > 64 ? "value may only be 64 characters long" : undefined) },
      password: { type: "string" },
      realm: { type: "string", optional: true },
      otp: { type: "string", optional: true },
      path: { type: "string", optional: true },
      privs: { type: "string", optional: true },
      "tfa-challenge": { type: "string", optional: true },
      "new-format": { type: "boolean", optional: true },
    });
    const { ctx } = req;
    const username = p.realm ? `${p.username}@${p.realm}` : (p.username as string);
    const password = p.password as string;
    const user = ctx.state.users[username];
    const now = Date.now() / 1000;
    if (!userUsable(user, now)) throw authenticationFailure();
    // The password may be a valid ticket of the same user (or of root@pam), which renews it.
    const ticketUser = ctx.tickets.verifyTicket(password, now);
    const byTicket = ticketUser !== undefined && (ticketUser === username || ticketUser === "root@pam");
    if (!byTicket && !passwordMatches(user?.passwordHash, password)) throw authenticationFailure();
    if (p.path !== undefined || p.privs !== undefined) {
      // verify_auth: a ticket check against a path; without privileges modelled, any path passes.
      return { username };
    }
    return {
      username,
      ticket: ctx.tickets.ticket(username, now),
      CSRFPreventionToken: ctx.tickets.csrfToken(username, now),
      cap: Object.fromEntries(Object.entries(ROOT_CAP).map(([group, privs]) => [group, Object.fromEntries(privs.map((x) => [x, 1]))])),
    };
  });

  router.get("/access/domains", (req) => {
    verify(req, {});
    return [
      { realm: "pam", type: "pam", comment: "Linux PAM standard authentication" },
      { realm: "pve", type: "pve", comment: "Proxmox VE authentication server" },
    ];
  });

  router.get("/access/users", (req) => {
    verify(req, { enabled: { type: "boolean", optional: true }, full: { type: "boolean", optional: true } });
    return Object.values(req.ctx.state.users)
      .sort((a, b) => a.userid.localeCompare(b.userid))
      .map((u) => ({
        userid: u.userid,
        enable: u.enable ? 1 : 0,
        expire: u.expire,
        realm: u.userid.split("@")[1],
        ...(u.comment ? { comment: u.comment } : {}),
        ...(u.email ? { email: u.email } : {}),
      }));
  });
}
