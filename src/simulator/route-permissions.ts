/**
 * The permission each API method declares, checked before its handler runs, as pve-manager's
 * rest_handler does with `check_api2_permissions` (after PVE/API2/Qemu.pm, Qemu/Agent.pm,
 * Cluster.pm, Nodes.pm, Tasks.pm, Pool.pm, pve-storage's API2/Storage/*.pm and
 * pve-access-control's API2/*.pm):
 *
 * - `all`: any authenticated caller (the handler may still check or filter);
 * - `perm`: privileges on a path templated from the parameters (`/vms/{vmid}`), all of them or,
 *   with `any`, one; `and` / `or` combine checks. A failed `or` says only "Permission check
 *   failed", as Proxmox does; a failed `perm` names the path and privilege(s).
 *
 * A method without a declaration is root@pam's alone ("Permission check failed (user !=
 * root@pam)"). root@pam passes every check.
 */
import { normalizeAclPath, checkAnyPrivilege, checkPrivileges, hasPrivileges, permissionDenied, ROOT_USER } from "./permissions.js";
import type { ClusterState } from "./state.js";

export type PermissionCheck =
  | { all: true }
  | { perm: string; privs: string[]; any?: boolean; requireParam?: string }
  | { and: PermissionCheck[] }
  | { or: PermissionCheck[] }
  /** ACL changes: Permissions.Modify on the path, or the object's allocate privilege (check_perm_modify). */
  | { permModify: string };

const ALL: PermissionCheck = { all: true };
const perm = (path: string, privs: string[], any = false): PermissionCheck => ({ perm: path, privs, any });
const vm = (privs: string[], any = false) => perm("/vms/{vmid}", privs, any);
const storageRead = perm("/storage/{storage}", ["Datastore.Audit", "Datastore.AllocateSpace"], true);
const networkProbe: PermissionCheck = { or: [perm("/", ["Sys.Audit", "Sys.Modify"]), perm("/nodes/{node}", ["Sys.AccessNetwork"])] };
const agentAudit = vm(["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"], true);
const VM_CONFIG_ANY = ["VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"];
const poolAllocate = perm("/pool/{poolid}", ["Pool.Allocate"]);

/** `METHOD /template` -> the declared check. */
export const DECLARED_PERMISSIONS: Readonly<Record<string, PermissionCheck>> = {
  "GET /version": ALL,
  "GET /cluster/nextid": ALL,
  "GET /cluster/resources": ALL,
  "GET /cluster/status": perm("/", ["Sys.Audit"]),

  "GET /access": ALL,
  "GET /access/domains": ALL,
  "GET /access/ticket": ALL,
  "POST /access/ticket": ALL,
  "GET /access/users": ALL,
  "GET /access/permissions": ALL,
  "GET /access/acl": ALL,
  "PUT /access/acl": { permModify: "{path}" },
  "GET /access/roles": ALL,
  "GET /access/roles/{roleid}": ALL,

  "GET /nodes": ALL,
  "GET /nodes/{node}": ALL,
  "GET /nodes/{node}/status": perm("/nodes/{node}", ["Sys.Audit"]),
  "GET /nodes/{node}/version": ALL,
  "GET /nodes/{node}/network": ALL,
  "GET /nodes/{node}/query-url-metadata": networkProbe,
  "GET /nodes/{node}/tasks": ALL,
  "GET /nodes/{node}/tasks/{upid}": ALL,
  "GET /nodes/{node}/tasks/{upid}/status": ALL,
  "GET /nodes/{node}/tasks/{upid}/log": ALL,
  "DELETE /nodes/{node}/tasks/{upid}": ALL,

  "GET /nodes/{node}/qemu": ALL,
  "POST /nodes/{node}/qemu": ALL,
  "GET /nodes/{node}/qemu/{vmid}": ALL,
  "DELETE /nodes/{node}/qemu/{vmid}": vm(["VM.Allocate"]),
  "GET /nodes/{node}/qemu/{vmid}/config": vm(["VM.Audit"]),
  "PUT /nodes/{node}/qemu/{vmid}/config": vm(VM_CONFIG_ANY, true),
  "POST /nodes/{node}/qemu/{vmid}/config": vm(VM_CONFIG_ANY, true),
  "GET /nodes/{node}/qemu/{vmid}/pending": vm(["VM.Audit"]),
  "PUT /nodes/{node}/qemu/{vmid}/cloudinit": vm(["VM.Config.Cloudinit"]),
  "POST /nodes/{node}/qemu/{vmid}/clone": {
    and: [vm(["VM.Clone"]), { or: [perm("/vms/{newid}", ["VM.Allocate"]), { perm: "/pool/{pool}", privs: ["VM.Allocate"], requireParam: "pool" }] }],
  },
  "PUT /nodes/{node}/qemu/{vmid}/resize": vm(["VM.Config.Disk"]),
  "POST /nodes/{node}/qemu/{vmid}/move_disk": vm(["VM.Config.Disk"]),
  "POST /nodes/{node}/qemu/{vmid}/migrate": vm(["VM.Migrate"]),
  "GET /cluster/ha/resources": perm("/", ["Sys.Audit"]),
  "GET /cluster/ha/resources/{sid}": perm("/", ["Sys.Audit"]),
  "POST /nodes/{node}/qemu/{vmid}/template": vm(["VM.Allocate"]),
  "GET /nodes/{node}/qemu/{vmid}/status": ALL,
  "GET /nodes/{node}/qemu/{vmid}/status/current": vm(["VM.Audit"]),
  "POST /nodes/{node}/qemu/{vmid}/status/start": vm(["VM.PowerMgmt"]),
  "POST /nodes/{node}/qemu/{vmid}/status/stop": vm(["VM.PowerMgmt"]),
  "POST /nodes/{node}/qemu/{vmid}/status/shutdown": vm(["VM.PowerMgmt"]),
  "POST /nodes/{node}/qemu/{vmid}/status/reboot": vm(["VM.PowerMgmt"]),
  "GET /nodes/{node}/qemu/{vmid}/agent": ALL,
  "POST /nodes/{node}/qemu/{vmid}/agent/ping": agentAudit,
  "GET /nodes/{node}/qemu/{vmid}/agent/info": agentAudit,
  "GET /nodes/{node}/qemu/{vmid}/agent/get-host-name": agentAudit,
  "GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo": agentAudit,
  "GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces": agentAudit,

  "GET /storage": ALL,
  "GET /storage/{storage}": perm("/storage/{storage}", ["Datastore.Allocate"]),
  "GET /nodes/{node}/storage": ALL,
  "GET /nodes/{node}/storage/{storage}": storageRead,
  "GET /nodes/{node}/storage/{storage}/status": storageRead,
  "GET /nodes/{node}/storage/{storage}/content": storageRead,
  "GET /nodes/{node}/storage/{storage}/content/{volume}": ALL,
  "DELETE /nodes/{node}/storage/{storage}/content/{volume}": ALL,
  "POST /nodes/{node}/storage/{storage}/download-url": { and: [perm("/storage/{storage}", ["Datastore.AllocateTemplate"]), networkProbe] },
  "POST /nodes/{node}/storage/{storage}/upload": perm("/storage/{storage}", ["Datastore.AllocateTemplate"]),

  "GET /cluster/mapping": ALL,
  ...Object.fromEntries(
    ["pci", "usb", "dir"].flatMap((kind) => [
      [`GET /cluster/mapping/${kind}`, ALL],
      [`GET /cluster/mapping/${kind}/{id}`, perm(`/mapping/${kind}/{id}`, ["Mapping.Audit"])],
      [`POST /cluster/mapping/${kind}`, perm(`/mapping/${kind}`, ["Mapping.Modify"])],
      [`PUT /cluster/mapping/${kind}/{id}`, perm(`/mapping/${kind}/{id}`, ["Mapping.Modify"])],
      [`DELETE /cluster/mapping/${kind}/{id}`, perm(`/mapping/${kind}/{id}`, ["Mapping.Modify"])],
    ]),
  ),

  "GET /pools": ALL,
  "GET /pools/{poolid}": perm("/pool/{poolid}", ["Pool.Audit"]),
  "POST /pools": poolAllocate,
  "PUT /pools": poolAllocate,
  "PUT /pools/{poolid}": poolAllocate,
  "DELETE /pools": poolAllocate,
  "DELETE /pools/{poolid}": poolAllocate,
};

/** PVE::Tools::template_replace: `{name}` from the parameters (missing ones become empty). */
function fillTemplate(template: string, params: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => params[name] ?? "");
}

/** RPCEnvironment::check_perm_modify. */
function checkPermModify(state: ClusterState, user: string, path: string, noerr: boolean): boolean {
  const privs = ["Permissions.Modify"];
  if (/^\/storage\/.+$/.test(path)) privs.push("Datastore.Allocate");
  else if (/^\/vms\/.+$/.test(path)) privs.push("VM.Allocate");
  else if (/^\/pool\/.+$/.test(path)) privs.push("Pool.Allocate");
  if (noerr) return privs.some((p) => hasPrivileges(state, user, path, [p]));
  checkAnyPrivilege(state, user, path, privs);
  return true;
}

/** RPCEnvironment::exec_api2_perm_check: true when allowed; throws (unless `noerr`) when not. */
function evaluate(state: ClusterState, user: string, check: PermissionCheck, params: Record<string, string>, noerr: boolean): boolean {
  if ("all" in check) return true;
  if ("and" in check) {
    for (const sub of check.and) evaluate(state, user, sub, params, false);
    return true;
  }
  if ("or" in check) {
    if (check.or.some((sub) => evaluate(state, user, sub, params, true))) return true;
    if (noerr) return false;
    throw permissionDenied();
  }
  if ("permModify" in check) {
    const path = normalizeAclPath(fillTemplate(check.permModify, params));
    if (!path) return false;
    return checkPermModify(state, user, path, noerr);
  }
  if (check.requireParam && params[check.requireParam] === undefined) {
    if (noerr) return false;
    throw permissionDenied();
  }
  const path = normalizeAclPath(fillTemplate(check.perm, params)) ?? fillTemplate(check.perm, params);
  if (noerr) return check.any ? check.privs.some((p) => hasPrivileges(state, user, path, [p])) : hasPrivileges(state, user, path, check.privs);
  if (check.any) checkAnyPrivilege(state, user, path, check.privs);
  else checkPrivileges(state, user, path, check.privs);
  return true;
}

/** RPCEnvironment::check_api2_permissions for one method; throws a 403 PveError when denied. */
export function checkDeclaredPermission(state: ClusterState, user: string, route: string, params: Record<string, string>): void {
  if (user === ROOT_USER) return;
  const check = DECLARED_PERMISSIONS[route];
  if (!check) throw permissionDenied("user != root@pam");
  evaluate(state, user, check, params, false);
}
