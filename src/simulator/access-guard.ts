/**
 * The guard every API call passes before its handler, in pve-manager's order: the method's
 * declared permission (route-permissions.ts), then the proxying to the target node (an
 * offline node answers 595, node-reachability.ts), then the privilege checks qemu-server makes
 * inside its handlers before it forks a worker (config-permissions.ts). Those last checks run
 * here, before parameter verification; Proxmox runs them after it, so a call that is both
 * malformed and forbidden gets 403 here and 400 there.
 */
import { splitVolumeId } from "./config-strings.js";
import {
  checkBridgePrivileges,
  checkCloneStoragePrivileges,
  checkDeletedDevicePrivileges,
  checkDevicePrivileges,
  checkDrivePrivileges,
  checkMappingAccess,
  checkNewVolumePrivileges,
  checkOptionPrivileges,
  checkSerialPrivileges,
  checkVmPrivileges,
} from "./config-permissions.js";
import { proxyFailure } from "./node-reachability.js";
import { checkPrivileges, hasPrivileges, permissionDenied, ROOT_USER } from "./permissions.js";
import type { Guard, RequestContext } from "./router.js";
import { checkDeclaredPermission } from "./route-permissions.js";
import type { ClusterState } from "./state.js";

/** Parameters that steer a create/update rather than set an option. */
const CONTROL_PARAMS = new Set([
  "node", "vmid", "pool", "start", "storage", "force", "unique", "archive", "bwlimit", "live-restore", "import-working-storage",
  "delete", "revert", "digest", "skiplock", "background_delay", "skip_cloud_init",
]);

function optionParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).filter(([k]) => !CONTROL_PARAMS.has(k)));
}

function requirePool(state: ClusterState, pool: string | undefined): void {
  if (pool !== undefined && !state.pools[pool]) throw permissionDenied(`pool '${pool}' does not exist`);
}

/** create_vm's checks (no restore: the simulator refuses archives anyway). */
function checkCreate(state: ClusterState, user: string, params: Record<string, string>): void {
  const vmid = Number(params.vmid);
  const pool = params.pool;
  requirePool(state, pool);
  if (params.storage !== undefined) checkPrivileges(state, user, `/storage/${params.storage}`, ["Datastore.AllocateSpace"]);
  const scope = { vmid, pool };
  if (params.start === "1" || params.start === "true") checkVmPrivileges(state, user, scope, ["VM.PowerMgmt"]);
  const allowed = hasPrivileges(state, user, `/vms/${vmid}`, ["VM.Allocate"]) || (pool !== undefined && hasPrivileges(state, user, `/pool/${pool}`, ["VM.Allocate"]));
  if (!allowed) throw permissionDenied();
  const options = optionParams(params);
  checkNewVolumePrivileges(state, user, options, params.storage);
  checkOptionPrivileges(state, user, scope, Object.keys(options));
  checkSerialPrivileges(state, user, scope, options);
  checkDevicePrivileges(state, user, scope, options);
  checkDrivePrivileges(state, user, scope, options);
  checkBridgePrivileges(state, user, options);
}

/** update_vm_api's checks: deleted and set options, drives, new volumes, bridges. */
function checkUpdate(state: ClusterState, user: string, params: Record<string, string>): void {
  const scope = { vmid: Number(params.vmid) };
  const options = optionParams(params);
  const deleted = (params.delete ?? "").split(/[,;\s]+/).filter(Boolean);
  const vm = state.vms[params.vmid ?? ""];
  checkOptionPrivileges(state, user, scope, deleted);
  checkDeletedDevicePrivileges(state, user, scope, deleted, vm?.conf ?? {}, vm?.pending ?? {});
  checkOptionPrivileges(state, user, scope, Object.keys(options));
  checkNewVolumePrivileges(state, user, options);
  checkBridgePrivileges(state, user, options);
  checkSerialPrivileges(state, user, scope, options);
  checkDevicePrivileges(state, user, scope, options, vm?.conf ?? {});
  checkDrivePrivileges(state, user, scope, options);
  if (deleted.some((k) => /^unused\d+$/.test(k))) checkVmPrivileges(state, user, scope, ["VM.Config.Disk"]);
}

/** clone_vm's early checks on the source's disks and NICs. */
function checkClone(state: ClusterState, user: string, params: Record<string, string>): void {
  requirePool(state, params.pool);
  if (params.storage !== undefined) checkPrivileges(state, user, `/storage/${params.storage}`, ["Datastore.AllocateSpace"]);
  const src = state.vms[params.vmid ?? ""];
  if (!src) return; // the handler reports the missing config
  checkCloneStoragePrivileges(state, user, src.conf, params.storage);
  checkBridgePrivileges(state, user, src.conf);
  checkMappingAccess(state, user, { vmid: src.vmid }, src.conf);
}

/** Tasks: their owner, or Sys.Audit (Sys.Modify to stop one) on the node. */
function checkTaskAccess(req: RequestContext, privilege: string): void {
  const task = req.ctx.tasks.get(req.path.upid ?? "");
  if (!task) return;
  const owner = task.user === req.user || task.user.split("!")[0] === req.user;
  if (!owner) checkPrivileges(req.ctx.state, req.user, `/nodes/${req.path.node}`, [privilege]);
}

const HANDLER_CHECKS: Record<string, (req: RequestContext, params: Record<string, string>) => void> = {
  "POST /nodes/{node}/qemu": (req, p) => checkCreate(req.ctx.state, req.user, p),
  "PUT /nodes/{node}/qemu/{vmid}/config": (req, p) => checkUpdate(req.ctx.state, req.user, p),
  "POST /nodes/{node}/qemu/{vmid}/config": (req, p) => checkUpdate(req.ctx.state, req.user, p),
  "POST /nodes/{node}/qemu/{vmid}/clone": (req, p) => checkClone(req.ctx.state, req.user, p),
  "POST /nodes/{node}/qemu/{vmid}/move_disk": (req, p) => {
    if (p.storage !== undefined) checkPrivileges(req.ctx.state, req.user, `/storage/${p.storage}`, ["Datastore.AllocateSpace"]);
  },
  "GET /nodes/{node}/tasks/{upid}/status": (req) => checkTaskAccess(req, "Sys.Audit"),
  "GET /nodes/{node}/tasks/{upid}/log": (req) => checkTaskAccess(req, "Sys.Audit"),
  "DELETE /nodes/{node}/tasks/{upid}": (req) => checkTaskAccess(req, "Sys.Modify"),
  // Simplified from pve-storage: deleting any volume takes Datastore.Allocate on its storage.
  "DELETE /nodes/{node}/storage/{storage}/content/{volume}": (req) => {
    const storage = splitVolumeId(req.path.volume ?? "")?.storage ?? req.path.storage;
    checkPrivileges(req.ctx.state, req.user, `/storage/${storage}`, ["Datastore.Allocate"]);
  },
};

export const accessGuard: Guard = (req, route) => {
  if (req.user === "") return; // the routes Proxmox serves without authentication
  const params = { ...req.params, ...req.path };
  const { state } = req.ctx;
  checkDeclaredPermission(state, req.user, route, params);
  const unreachable = proxyFailure(state, route, req.path);
  if (unreachable) throw unreachable;
  if (req.user !== ROOT_USER) HANDLER_CHECKS[route]?.(req, params);
};
