/**
 * PUT/POST /nodes/{node}/qemu/{vmid}/config, after qemu-server's update_vm_api: parameters are
 * verified, changes are written to the [PENDING] section under the VM's config lock, and then
 * applied at once when the VM is stopped, or hot-plugged where a running VM allows it (the
 * rest stays pending until the next start or reboot).
 */
import { createHash } from "node:crypto";
import {
  PropertyStringError,
  decodeSshKeys,
  formatNet,
  parseDrive,
  parseNet,
  randomMac,
  validSshPublicKeys,
} from "./config-strings.js";
import type { SimContext } from "./context.js";
import { PveError, fail, paramError } from "./errors.js";
import { boolParam } from "./params.js";
import { hotplugFeatures, isDriveKey, isFastPlug, optionSpec, validateOption } from "./qemu-schema.js";
import type { VmState } from "./state.js";
import { createDisk, deleteOrDetachDrive, driveVolume, registerUnusedDrive } from "./vm-disks.js";
import {
  addPendingDelete,
  cleanupPending,
  configDigest,
  parsePendingDelete,
  removePendingDelete,
} from "./vm-config.js";

const CONTROL_PARAMS = new Set([
  "digest",
  "skiplock",
  "delete",
  "revert",
  "force",
  "background_delay",
  "skip_cloud_init",
  "import-working-storage",
]);

export function checkLock(vm: VmState): void {
  const lock = vm.conf.lock;
  if (lock) throw fail(`VM is locked (${lock})`);
}

function memoryMiB(value: string | undefined): number {
  if (!value) return 512;
  const m = /(?:^|,)(?:current=)?(\d+)/.exec(value);
  return m ? Number(m[1]) : 512;
}

/** Like PVE::Tools::encrypt_pw: a SHA-256 crypt-style string (not a real crypt(3) hash). */
function hashPassword(password: string, random: () => number): string {
  if (/^\$(?:[156]|2[ay])(\$.+){2}/.test(password)) return password;
  const salt = Array.from({ length: 16 }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(random() * 36)]).join("");
  const hash = createHash("sha256").update(`${salt}${password}`).digest("base64").replace(/=+$/, "");
  return `$5$${salt}$${hash}`;
}

function normalizeTags(value: string): string {
  const tags = value.split(/[;, ]+/).filter((t) => t !== "");
  return [...new Set(tags)].sort().join(";");
}

export interface UpdateRequest {
  params: Record<string, string>;
  user: string;
}

interface Prepared {
  values: Record<string, string>;
  deletes: string[];
  reverts: string[];
  digest?: string;
  skiplock: boolean;
  force: boolean;
}

/** Parameter verification (400s) and the value rewrites update_vm_api does before locking. */
export function prepareUpdate(ctx: SimContext, req: UpdateRequest): Prepared {
  const errors: Record<string, string> = {};
  const values: Record<string, string> = {};
  for (const [key, raw] of Object.entries(req.params)) {
    if (CONTROL_PARAMS.has(key)) continue;
    try {
      values[key] = validateOption(key, raw);
    } catch (err) {
      errors[key] = (err as Error).message;
    }
  }
  const skiplock = boolParam(req.params.skiplock);
  if (skiplock && req.user !== "root@pam") errors.skiplock = "Only root may use this option.";
  if (req.params.digest !== undefined && !/^[a-f0-9]{40}$/i.test(req.params.digest)) errors.digest = "value does not match the regex pattern";
  if (Object.keys(errors).length > 0) throw paramError(errors);

  if (values.sshkeys !== undefined && !validSshPublicKeys(decodeSshKeys(values.sshkeys))) {
    throw fail("SSH public key validation error");
  }
  if (values.cdrom !== undefined) {
    values.ide2 = values.ide2 ?? `${values.cdrom},media=cdrom`;
    delete values.cdrom;
  }
  const deletes: string[] = [];
  const reverts: string[] = [];
  for (const opt of (req.params.revert ?? "").split(/[,;\s]+/).filter(Boolean)) {
    if (!optionSpec(opt)) throw paramError({ revert: `unknown option '${opt}'` });
    if (values[opt] !== undefined) throw paramError({ delete: `you can't use '-${opt}' and -revert ${opt}' at the same time` });
    reverts.push(opt);
  }
  for (let opt of (req.params.delete ?? "").split(/[,;\s]+/).filter(Boolean)) {
    if (opt === "cdrom") opt = "ide2";
    if (values[opt] !== undefined) throw paramError({ delete: `you can't use '-${opt}' and -delete ${opt}' at the same time` });
    if (reverts.includes(opt)) throw paramError({ revert: `you can't use '-delete ${opt}' and -revert ${opt}' at the same time` });
    if (!optionSpec(opt)) throw paramError({ delete: `unknown option '${opt}'` });
    deletes.push(opt);
  }
  if (deletes.length === 0 && reverts.length === 0 && Object.keys(values).length === 0) throw fail("no options specified");
  for (const [key, value] of Object.entries(values)) {
    if (/^net\d+$/.test(key)) {
      const net = parseNet(value);
      if (!net.macaddr) net.macaddr = randomMac("BC:24:11", ctx.random);
      values[key] = formatNet(net);
    } else if (key === "vmgenid" && value === "1") {
      values[key] = crypto.randomUUID();
    } else if (key === "tags") {
      values[key] = normalizeTags(value);
    }
  }
  return { values, deletes, reverts, digest: req.params.digest, skiplock, force: boolParam(req.params.force) };
}

function loadAndCheck(ctx: SimContext, node: string, vmid: number, p: Prepared): VmState {
  const vm = ctx.requireVm(node, vmid);
  if (p.digest && p.digest !== configDigest(vm)) throw fail("checksum mismatch (file change by other user?)");
  if (!p.skiplock) checkLock(vm);
  if (p.values.memory !== undefined || p.values.balloon !== undefined) {
    const maxmem = memoryMiB(p.values.memory ?? vm.pending.memory ?? vm.conf.memory);
    const balloon = Number(p.values.balloon ?? vm.pending.balloon ?? vm.conf.balloon ?? 0);
    if (balloon && balloon > maxmem) throw fail("balloon value too large (must be smaller than assigned memory)");
  }
  return vm;
}

/** Runs the update (the part update_vm_api does under lock_config). */
function applyUpdate(ctx: SimContext, node: string, vmid: number, p: Prepared, log: (l: string) => void): void {
  const vm = loadAndCheck(ctx, node, vmid, p);
  const modified = new Set<string>();
  const values = { ...p.values };
  const deletes = [...p.deletes];
  for (const opt of p.reverts) {
    if (vm.conf[opt] !== undefined) values[opt] = vm.conf[opt] as string;
    else if (vm.pending[opt] !== undefined) deletes.push(opt);
  }
  const shown = Object.keys(values)
    .sort()
    .map((k) => `-${k} ${k === "cipassword" ? "<hidden>" : values[k]}`);
  if (deletes.length > 0) shown.unshift(`-delete ${deletes.join(",")}`);
  log(`update VM ${vmid}: ${shown.join(" ")}`);

  for (const opt of deletes) {
    modified.add(opt);
    const val = vm.conf[opt] ?? vm.pending[opt];
    if (val === undefined) {
      log(`cannot delete '${opt}' - not set in current configuration!`);
      modified.delete(opt);
      continue;
    }
    const isPendingVal = vm.pending[opt] !== undefined;
    delete vm.pending[opt];
    if (/^unused\d+$/.test(opt)) {
      if (vm.conf.protection === "1") throw fail(`can't remove unused disk '${val}' - protection mode enabled`);
      deleteOrDetachDrive(ctx, vm, val, true);
      delete vm.conf[opt];
    } else if (isDriveKey(opt)) {
      if (vm.conf.protection === "1") throw fail(`can't remove drive '${opt}' - protection mode enabled`);
      if (isPendingVal) registerUnusedDrive(ctx, vm, val);
      addPendingDelete(vm.pending, opt, p.force);
    } else if (opt === "tags") {
      delete vm.conf.tags;
    } else {
      addPendingDelete(vm.pending, opt, p.force);
    }
  }

  for (const [opt, value] of Object.entries(values)) {
    modified.add(opt);
    if (vm.pending[opt] !== undefined && vm.pending[opt] === value) continue;
    if (isDriveKey(opt)) {
      if (vm.pending[opt] !== undefined) registerUnusedDrive(ctx, vm, vm.pending[opt] as string);
      vm.pending[opt] = createDisk(ctx, vm, opt, value);
    } else if (opt === "cipassword") {
      vm.conf.cipassword = hashPassword(value, ctx.random);
    } else if (opt === "boot") {
      const order = /(?:^|,)order=([^,]+)/.exec(value)?.[1];
      if (order) {
        for (const dev of order.split(";")) {
          const exists = vm.conf[dev] ?? vm.pending[dev] ?? values[dev];
          if (!exists || deletes.includes(dev)) throw fail(`invalid bootorder: device '${dev}' does not exist'`);
        }
      }
      vm.pending[opt] = value;
    } else {
      vm.pending[opt] = value;
    }
    removePendingDelete(vm.pending, opt);
  }

  cleanupPending(vm);
  if (Object.keys(vm.pending).length === 0) return;
  if (vm.status === "running") hotplugPending(ctx, vm, modified);
  else applyPending(ctx, vm);
}

/** vmconfig_apply_pending: a stopped VM takes every pending change. */
export function applyPending(ctx: SimContext, vm: VmState): void {
  for (const d of parsePendingDelete(vm.pending.delete)) {
    const old = vm.conf[d.key];
    if (old !== undefined && isDriveKey(d.key)) deleteOrDetachDrive(ctx, vm, old, d.force);
    delete vm.conf[d.key];
  }
  delete vm.pending.delete;
  for (const [key, value] of Object.entries(vm.pending)) {
    const old = vm.conf[key];
    if (old !== undefined && isDriveKey(key) && driveVolume(old) !== driveVolume(value)) registerUnusedDrive(ctx, vm, old);
    vm.conf[key] = value;
  }
  vm.pending = {};
}

const LIVE_DRIVE_KEYS = new Set(["backup", "replicate", "size", "file"]);

/** vmconfig_hotplug_pending: what a running VM can take now; the rest waits for a restart. */
function hotplugPending(ctx: SimContext, vm: VmState, modified: Set<string>): void {
  const features = hotplugFeatures(vm.conf.hotplug);
  for (const [key, value] of Object.entries(vm.pending)) {
    if (key !== "delete" && isFastPlug(key)) {
      vm.conf[key] = value;
      delete vm.pending[key];
    }
  }
  for (const d of parsePendingDelete(vm.pending.delete)) {
    if (!modified.has(d.key)) continue;
    const key = d.key;
    let live = false;
    if (isFastPlug(key) || key === "cpuunits" || key === "cpulimit") live = true;
    else if (key === "tablet") live = features.has("usb");
    else if (key === "vcpus") live = features.has("cpu");
    else if (key === "balloon") live = vm.conf.balloon !== "0";
    else if (/^net\d+$/.test(key)) live = features.has("network");
    else if (isDriveKey(key)) live = features.has("disk") && !/^(efidisk|ide|sata|tpmstate)\d+$/.test(key);
    else if (key === "memory") live = features.has("memory");
    if (!live) continue;
    const old = vm.conf[key];
    if (old !== undefined && isDriveKey(key)) deleteOrDetachDrive(ctx, vm, old, d.force);
    delete vm.conf[key];
    removePendingDelete(vm.pending, key);
  }
  for (const [key, value] of Object.entries(vm.pending)) {
    if (key === "delete" || !modified.has(key)) continue;
    const old = vm.conf[key];
    let live = false;
    if (key === "hotplug") live = !/memory|cpu/.test(value) && !/memory|cpu/.test(old ?? "");
    else if (key === "tablet") live = features.has("usb");
    else if (key === "vcpus") live = features.has("cpu");
    else if (key === "balloon") live = (old === undefined || old !== "0") === (value !== "0");
    else if (key === "cpuunits" || key === "cpulimit") live = true;
    else if (key === "memory") live = features.has("memory");
    else if (key === "agent") live = agentOnlyTrimChanged(old, value);
    else if (/^net\d+$/.test(key)) live = netChangeLive(old, value, features.has("network"));
    else if (isDriveKey(key)) live = driveChangeLive(key, old, value, features.has("disk"));
    if (!live) continue;
    if (old !== undefined && isDriveKey(key) && driveVolume(old) !== driveVolume(value)) registerUnusedDrive(ctx, vm, old);
    vm.conf[key] = value;
    delete vm.pending[key];
  }
}

function parseKv(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? "").split(",")) {
    const [k, v] = part.split("=", 2);
    if (k && v !== undefined) out[k] = v;
    else if (k) out[""] = k;
  }
  return out;
}

function agentOnlyTrimChanged(old: string | undefined, value: string): boolean {
  if (old === undefined) return false;
  const a = parseKv(old.replace(/^([01])(,|$)/, "enabled=$1$2"));
  const b = parseKv(value.replace(/^([01])(,|$)/, "enabled=$1$2"));
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === "fstrim_cloned_disks") continue;
    if (a[k] !== b[k]) return false;
  }
  return true;
}

function netChangeLive(old: string | undefined, value: string, hotplug: boolean): boolean {
  if (old === undefined) return hotplug;
  let a: Record<string, string>;
  let b: Record<string, string>;
  try {
    a = parseNet(old);
    b = parseNet(value);
  } catch {
    return false;
  }
  const needsReplug = ["model", "macaddr", "queues", "mtu"].some((k) => a[k] !== b[k]);
  return needsReplug ? hotplug : true;
}

function driveChangeLive(key: string, old: string | undefined, value: string, hotplug: boolean): boolean {
  if (/^(efidisk|tpmstate)\d+$/.test(key)) return false;
  let b: Record<string, string>;
  try {
    b = parseDrive(value);
  } catch {
    return false;
  }
  if (b.media === "cdrom") return true; // cdrom media changes are done live
  if (old === undefined) return hotplug && !/^(ide|sata)\d+$/.test(key);
  let a: Record<string, string>;
  try {
    a = parseDrive(old);
  } catch {
    return false;
  }
  if (a.file !== b.file) return hotplug && !/^(ide|sata)\d+$/.test(key);
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (a[k] === b[k] || LIVE_DRIVE_KEYS.has(k) || /^(iops|mbps|bps)/.test(k)) continue;
    return false;
  }
  return true;
}

/** The synchronous PUT: update under the VM's config lock (lock_config, 10 s wait). */
export async function updateVmConfigSync(ctx: SimContext, node: string, vmid: number, req: UpdateRequest): Promise<void> {
  const p = prepareUpdate(ctx, req);
  loadAndCheck(ctx, node, vmid, p);
  await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, () => {
    try {
      applyUpdate(ctx, node, vmid, p, () => {});
    } finally {
      ctx.changed();
    }
  });
}

/** The asynchronous POST: the same work in a `qmconfig` task. */
export function updateVmConfigAsync(ctx: SimContext, node: string, vmid: number, req: UpdateRequest) {
  const p = prepareUpdate(ctx, req);
  loadAndCheck(ctx, node, vmid, p);
  return ctx.tasks.start(node, "qmconfig", String(vmid), req.user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      await t.work();
      try {
        applyUpdate(ctx, node, vmid, p, (line) => t.log(line));
      } catch (err) {
        if (err instanceof PveError && err.errors) {
          throw new Error(Object.entries(err.errors).map(([k, v]) => `${k}: ${v}`).join("\n"));
        }
        if (err instanceof PropertyStringError) throw new Error(err.message);
        throw err;
      } finally {
        ctx.changed();
      }
    });
  });
}
