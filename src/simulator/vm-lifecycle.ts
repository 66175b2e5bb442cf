/**
 * VM operations that run as tasks, after qemu-server's API: clone (qmclone), start (qmstart),
 * stop (qmstop), shutdown (qmshutdown), reboot (qmreboot), destroy (qmdestroy), disk resize
 * (resize) and template conversion (qmtemplate). Each takes the VM's config lock inside its
 * worker; the early checks that Proxmox makes before forking fail the HTTP request itself.
 */
import { randomUUID } from "node:crypto";
import {
  formatDrive,
  formatNet,
  isCloudInitVolume,
  parseDrive,
  parseNet,
  randomMac,
  splitVolumeId,
} from "./config-strings.js";
import type { SimContext } from "./context.js";
import { fail, paramError } from "./errors.js";
import { assertMappedDevices } from "./mapped-devices.js";
import { isDriveKey, storedDescription } from "./qemu-schema.js";
import {
  allocVolume,
  findVolume,
  freeVolume,
  isBlockStorage,
  requireStorage,
  usedBytes,
  type VmState,
} from "./state.js";
import type { TaskContext } from "./tasks.js";
import { createDisk, isOwnedBy } from "./vm-disks.js";
import { applyPending, checkLock } from "./vm-update.js";
import { configDigest } from "./vm-config.js";

const MiB = 1024 ** 2;

type Started = { task: { upid: string }; done: Promise<void> };

function isTemplate(vm: VmState): boolean {
  return vm.conf.template === "1";
}

// ---- clone ----------------------------------------------------------------------------------

export interface CloneParams {
  newid: number;
  name?: string;
  description?: string;
  pool?: string;
  snapname?: string;
  storage?: string;
  format?: string;
  full?: boolean;
  target?: string;
}

interface ClonePlan {
  newconf: Record<string, string>;
  drives: Array<{ key: string; drive: Record<string, string>; full: boolean }>;
  full: boolean;
}

function cloneLoadAndCheck(ctx: SimContext, node: string, vmid: number, p: CloneParams, running: boolean): ClonePlan {
  if (p.pool !== undefined && !ctx.state.pools[p.pool]) throw fail(`pool '${p.pool}' does not exist`);
  if (p.target && !ctx.state.nodes[p.target]) throw fail(`no such cluster node '${p.target}'`);
  if (p.storage) {
    const s = requireStorage(ctx.state, p.storage, node);
    if (!s.content.includes("images")) throw paramError({ storage: `storage '${p.storage}' does not support vm images` });
    if (p.target) {
      requireStorage(ctx.state, p.storage, p.target);
      if (!s.shared) throw fail(`can't clone to non-shared storage '${p.storage}'`);
    }
  }
  const src = ctx.requireVm(node, vmid);
  checkLock(src);
  if ((src.status === "running") !== running) throw fail("unexpected state change");
  if (p.snapname) throw fail(`snapshot '${p.snapname}' does not exist`);
  const full = p.full ?? !isTemplate(src);
  if (p.storage !== undefined && !full) throw fail("parameter 'storage' not allowed for linked clones");
  if (p.format !== undefined && !full) throw fail("parameter 'format' not allowed for linked clones");
  if (ctx.state.vms[p.newid]) throw fail(`unable to create VM ${p.newid}: config file already exists`);
  const newconf: Record<string, string> = { lock: "clone" };
  const drives: ClonePlan["drives"] = [];
  let shared = true;
  for (const key of Object.keys(src.conf).sort()) {
    const value = src.conf[key] as string;
    if (["snapshots", "parent", "snaptime", "vmstate", "snapstate", "runningcpu", "runningmachine", "running-nets-host-mtu", "lock"].includes(key)) continue;
    if (/^unused\d+$/.test(key)) continue;
    if (/^net\d+$/.test(key)) {
      const net = parseNet(value);
      net.macaddr = randomMac("BC:24:11", ctx.random);
      newconf[key] = formatNet(net);
    } else if (isDriveKey(key)) {
      const drive = parseDrive(value);
      const file = drive.file ?? "";
      if (drive.media === "cdrom" && !isCloudInitVolume(file)) {
        newconf[key] = value;
        continue;
      }
      const parts = splitVolumeId(file);
      if (!parts) throw fail(`Full clone feature is not supported for '${file}' (${key})`);
      const storage = ctx.state.storages[parts.storage];
      if (!storage?.shared) shared = false;
      const cloudinit = isCloudInitVolume(file);
      const driveFull = full || cloudinit || key === "tpmstate0";
      if (!driveFull && !/(^|\/)base-\d+-disk-\d+/.test(parts.volname)) {
        throw fail(`Linked clone feature is not supported for '${file}' (${key})`);
      }
      drives.push({ key, drive, full: driveFull });
    } else {
      newconf[key] = value;
    }
  }
  if (p.target && !shared) throw fail(`can't clone VM to node '${p.target}' (VM uses local storage)`);
  return { newconf, drives, full };
}

export function cloneVm(ctx: SimContext, node: string, vmid: number, p: CloneParams, user: string): Started {
  const running = ctx.requireVm(node, vmid).status === "running";
  cloneLoadAndCheck(ctx, node, vmid, p, running);
  return ctx.tasks.start(node, "qmclone", String(vmid), user, async (t) => {
    const lockWait = ctx.lockWait(1);
    await ctx.locks.withLock(vmid, { shared: !running, timeoutMs: lockWait }, async () => {
      await ctx.locks.withLock(p.newid, { timeoutMs: lockWait }, async () => {
        await cloneWorker(ctx, node, vmid, p, running, t);
      });
    });
  });
}

async function cloneWorker(ctx: SimContext, node: string, vmid: number, p: CloneParams, running: boolean, t: TaskContext) {
  const plan = cloneLoadAndCheck(ctx, node, vmid, p, running);
  const src = ctx.state.vms[vmid] as VmState;
  t.log(`create ${plan.full ? "full" : "linked"} clone of VM ${vmid} with ID ${p.newid}`);
  const newconf = plan.newconf;
  const smbios = (newconf.smbios1 ?? "").split(",").filter((x) => x !== "" && !x.startsWith("uuid="));
  newconf.smbios1 = [`uuid=${randomUUID()}`, ...smbios].join(",");
  if (newconf.vmgenid) newconf.vmgenid = randomUUID();
  delete newconf.template;
  newconf.name = p.name ?? `Copy-of-VM-${src.conf.name ?? vmid}`;
  if (p.description) newconf.description = storedDescription(p.description);
  // the temporary config that makes the new VMID taken while the disks are copied
  const vm: VmState = { vmid: p.newid, node, conf: { lock: "clone" }, pending: {}, status: "stopped" };
  ctx.state.vms[p.newid] = vm;
  ctx.changed();
  const newVolumes: string[] = [];
  try {
    await t.work();
    for (const { key, drive, full } of plan.drives) {
      const file = drive.file as string;
      const parts = splitVolumeId(file) as { storage: string; volname: string };
      const source = findVolume(ctx.state, file);
      if (!source) throw new Error(`volume '${file}' does not exist`);
      t.log(`create ${full ? "full" : "linked"} clone of drive ${key} (${file})`);
      let newvolid: string;
      if (isCloudInitVolume(file)) {
        newvolid = allocVolume(ctx.state, p.storage ?? parts.storage, node, p.newid, 4 * MiB, { cloudinit: true });
      } else if (full) {
        newvolid = allocVolume(ctx.state, p.storage ?? parts.storage, node, p.newid, source.size, { format: p.format });
        t.log(`transferred ${(source.size / 2 ** 30).toFixed(1)} GiB of ${(source.size / 2 ** 30).toFixed(1)} GiB (100.00%)`);
      } else {
        const storage = ctx.state.storages[parts.storage];
        if (!storage) throw new Error(`storage '${parts.storage}' does not exist`);
        let n = 0;
        const base = parts.volname;
        const existing = Object.keys(storage.volumes);
        const name = (k: number) => (isBlockStorage(storage) ? `${base}/vm-${p.newid}-disk-${k}` : `${base}/${p.newid}/vm-${p.newid}-disk-${k}.qcow2`);
        while (existing.some((v) => v.includes(`vm-${p.newid}-disk-${n}`))) n++;
        if (usedBytes(storage) + source.size > storage.total) throw new Error(`no space left on storage '${parts.storage}'`);
        storage.volumes[name(n)] = { size: source.size, format: source.format, content: "images", vmid: p.newid };
        newvolid = `${parts.storage}:${name(n)}`;
      }
      newVolumes.push(newvolid);
      const size = findVolume(ctx.state, newvolid)?.size;
      const newdrive: Record<string, string> = { ...drive, file: newvolid };
      delete newdrive.format;
      if (size !== undefined) newdrive.size = String(size);
      newconf[key] = formatDrive(newdrive);
      vm.conf = { ...newconf };
      ctx.changed();
    }
    delete newconf.lock;
    vm.conf = { ...newconf };
    if (p.target) vm.node = p.target;
    if (p.pool) ctx.state.pools[p.pool]?.vms.push(p.newid);
    ctx.changed();
  } catch (err) {
    for (const volid of newVolumes) freeVolume(ctx.state, volid);
    delete ctx.state.vms[p.newid];
    ctx.changed();
    throw new Error(`clone failed: ${(err as Error).message}`);
  }
}

// ---- power ----------------------------------------------------------------------------------

function checkBridges(ctx: SimContext, vm: VmState): void {
  const node = ctx.state.nodes[vm.node];
  for (const [key, value] of Object.entries(vm.conf)) {
    if (!/^net\d+$/.test(key)) continue;
    const bridge = parseNet(value).bridge;
    if (bridge && !node?.bridges.includes(bridge)) throw new Error(`bridge '${bridge}' does not exist`);
  }
}

function checkVolumes(ctx: SimContext, vm: VmState): void {
  for (const [key, value] of Object.entries(vm.conf)) {
    if (!isDriveKey(key)) continue;
    const drive = parseDrive(value);
    const file = drive.file ?? "";
    if (file === "none" || file === "cdrom" || !splitVolumeId(file)) continue;
    if (!findVolume(ctx.state, file)) throw new Error(`volume '${file}' does not exist`);
  }
}

let nextPid = 100000;

function powerOn(ctx: SimContext, vm: VmState, t: TaskContext): void {
  applyPending(ctx, vm);
  checkBridges(ctx, vm);
  checkVolumes(ctx, vm);
  assertMappedDevices(ctx.state, vm.conf, vm.node);
  if (Object.keys(vm.conf).some((k) => isDriveKey(k) && isCloudInitVolume(parseDrive(vm.conf[k] as string).file ?? ""))) {
    t.log("generating cloud-init ISO");
  }
  vm.status = "running";
  vm.startedAt = Date.now();
  vm.pid = nextPid++;
}

function powerOff(vm: VmState): void {
  vm.status = "stopped";
  vm.startedAt = undefined;
  vm.pid = undefined;
}

export function startVm(ctx: SimContext, node: string, vmid: number, user: string, skiplock: boolean): Started {
  ctx.requireVm(node, vmid);
  return ctx.tasks.start(node, "qmstart", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const vm = ctx.requireVm(node, vmid);
      if (isTemplate(vm)) throw new Error("you can't start a vm if it's a template");
      if (!skiplock) checkLock(vm);
      if (vm.status === "running") throw new Error(`VM ${vmid} already running`);
      await t.work();
      powerOn(ctx, vm, t);
      ctx.changed();
    });
  });
}

export function stopVm(ctx: SimContext, node: string, vmid: number, user: string, skiplock: boolean): Started {
  return powerOffTask(ctx, "qmstop", node, vmid, user, skiplock);
}

/** The simulator has no guest to ask: a shutdown ends like a stop, only the task type differs. */
export function shutdownVm(ctx: SimContext, node: string, vmid: number, user: string, skiplock: boolean): Started {
  return powerOffTask(ctx, "qmshutdown", node, vmid, user, skiplock);
}

function powerOffTask(ctx: SimContext, type: "qmstop" | "qmshutdown", node: string, vmid: number, user: string, skiplock: boolean): Started {
  ctx.requireVm(node, vmid);
  return ctx.tasks.start(node, type, String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const vm = ctx.requireVm(node, vmid);
      if (!skiplock) checkLock(vm);
      await t.work();
      powerOff(vm);
      ctx.changed();
    });
  });
}

export function rebootVm(ctx: SimContext, node: string, vmid: number, user: string): Started {
  const vm = ctx.requireVm(node, vmid);
  if (vm.status !== "running") throw fail(`VM ${vmid} not running`);
  return ctx.tasks.start(node, "qmreboot", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const current = ctx.requireVm(node, vmid);
      checkLock(current);
      await t.work();
      powerOff(current);
      powerOn(ctx, current, t);
      ctx.changed();
    });
  });
}

// ---- destroy --------------------------------------------------------------------------------

function destroyEarlyChecks(ctx: SimContext, node: string, vmid: number): VmState {
  const vm = ctx.requireVm(node, vmid);
  if (vm.conf.protection === "1") throw fail(`can't remove VM ${vmid} - protection mode enabled`);
  if (vm.status === "running") throw fail(`VM ${vmid} is running - destroy failed`);
  return vm;
}

export function destroyVm(
  ctx: SimContext,
  node: string,
  vmid: number,
  user: string,
  opts: { purge: boolean; destroyUnreferenced: boolean; skiplock: boolean },
): Started {
  destroyEarlyChecks(ctx, node, vmid);
  return ctx.tasks.start(node, "qmdestroy", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const vm = destroyEarlyChecks(ctx, node, vmid);
      if (!opts.skiplock) checkLock(vm);
      await t.work();
      const volumes = new Set<string>();
      for (const map of [vm.conf, vm.pending]) {
        for (const [key, value] of Object.entries(map)) {
          if (/^unused\d+$/.test(key)) volumes.add(value);
          else if (isDriveKey(key)) {
            const file = parseDrive(value).file ?? "";
            if (isOwnedBy(file, vmid)) volumes.add(file);
          }
        }
      }
      if (opts.destroyUnreferenced) {
        for (const s of Object.values(ctx.state.storages)) {
          for (const [vn, vol] of Object.entries(s.volumes)) if (vol.vmid === vmid) volumes.add(`${s.id}:${vn}`);
        }
      }
      for (const volid of volumes) {
        t.log(`Removing image: 100% complete...done.`);
        freeVolume(ctx.state, volid);
      }
      for (const pool of Object.values(ctx.state.pools)) pool.vms = pool.vms.filter((id) => id !== vmid);
      if (opts.purge) t.log(`purging VM ${vmid} from related configurations..`);
      delete ctx.state.vms[vmid];
      ctx.changed();
    });
  });
}

// ---- resize ---------------------------------------------------------------------------------

export function resizeVmDisk(
  ctx: SimContext,
  node: string,
  vmid: number,
  user: string,
  p: { disk: string; size: string; digest?: string; skiplock: boolean },
): Started {
  ctx.requireVm(node, vmid);
  return ctx.tasks.start(node, "resize", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const vm = ctx.requireVm(node, vmid);
      if (p.digest && p.digest !== configDigest(vm)) throw new Error("checksum mismatch (file change by other user?)");
      if (!p.skiplock) checkLock(vm);
      const value = vm.conf[p.disk];
      if (!value) throw new Error(`disk '${p.disk}' does not exist`);
      const drive = parseDrive(value);
      const volid = drive.file;
      if (!volid) throw new Error(`disk '${p.disk}' has no associated volume`);
      if (drive.media === "cdrom" || isCloudInitVolume(volid)) throw new Error("you can't resize a cdrom");
      const volume = findVolume(ctx.state, volid);
      if (!volume) throw new Error(`Could not determine current size of volume '${volid}'`);
      const m = /^(\+)?(\d+(?:\.\d+)?)([KMGT])?$/.exec(p.size);
      if (!m) throw new Error("internal error");
      const factor = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[3] ?? ""] ?? 1;
      let newsize = Number(m[2]) * factor;
      if (m[1]) newsize += volume.size;
      newsize = Math.trunc(newsize);
      if (newsize < volume.size) throw new Error("shrinking disks is not supported");
      if (newsize === volume.size) return;
      await t.work();
      const parts = splitVolumeId(volid);
      const storage = parts ? ctx.state.storages[parts.storage] : undefined;
      if (storage && usedBytes(storage) - volume.size + newsize > storage.total) {
        throw new Error(`error resizing volume '${volid}': no space left on storage '${storage.id}'`);
      }
      t.log(`  Size of logical volume pve/${parts?.volname ?? volid} changed to ${(newsize / 2 ** 30).toFixed(2)} GiB.`);
      volume.size = newsize;
      drive.size = String(newsize);
      vm.conf[p.disk] = formatDrive(drive);
      ctx.changed();
    });
  });
}

// ---- template -------------------------------------------------------------------------------

export function convertToTemplate(ctx: SimContext, node: string, vmid: number, user: string): Started {
  const vm = ctx.requireVm(node, vmid);
  checkLock(vm);
  if (isTemplate(vm)) throw fail(`VM ${vmid} is already a template`);
  if (vm.status === "running") throw fail("you can't convert a VM to template if VM is running");
  return ctx.tasks.start(node, "qmtemplate", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const current = ctx.requireVm(node, vmid);
      await t.work();
      for (const [key, value] of Object.entries(current.conf)) {
        if (!isDriveKey(key)) continue;
        const drive = parseDrive(value);
        const file = drive.file ?? "";
        const parts = splitVolumeId(file);
        if (!parts || drive.media === "cdrom" || isCloudInitVolume(file)) continue;
        const storage = ctx.state.storages[parts.storage];
        const volume = storage?.volumes[parts.volname];
        if (!storage || !volume) continue;
        const renamed = parts.volname.replace(`vm-${vmid}-disk-`, `base-${vmid}-disk-`);
        delete storage.volumes[parts.volname];
        storage.volumes[renamed] = volume;
        drive.file = `${parts.storage}:${renamed}`;
        current.conf[key] = formatDrive(drive);
      }
      current.conf.template = "1";
      ctx.changed();
    });
  });
}

// ---- create ---------------------------------------------------------------------------------

/**
 * POST /nodes/{node}/qemu (create_vm without an archive): the VMID is taken at once with a
 * `lock: create` config (create_and_lock_config), then a `qmcreate` worker allocates the
 * disks and writes the final config; `start=1` starts the VM afterwards.
 */
export function createVm(
  ctx: SimContext,
  node: string,
  vmid: number,
  user: string,
  p: { options: Record<string, string>; pool?: string; start: boolean },
): Started {
  ctx.requireNode(node);
  if (p.pool !== undefined && !ctx.state.pools[p.pool]) throw fail(`pool '${p.pool}' does not exist`);
  const existing = ctx.state.vms[vmid];
  if (existing) throw fail(`unable to create VM ${vmid} - VM ${vmid} already exists on node '${existing.node}'`);
  const vm: VmState = { vmid, node, conf: { lock: "create" }, pending: {}, status: "stopped" };
  ctx.state.vms[vmid] = vm;
  ctx.changed();
  return ctx.tasks.start(node, "qmcreate", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait(1) }, async () => {
      const created: string[] = [];
      try {
        await t.work();
        const conf: Record<string, string> = {};
        for (const [key, value] of Object.entries(p.options)) {
          if (isDriveKey(key)) {
            const stored = createDisk(ctx, vm, key, value);
            conf[key] = stored;
            const file = parseDrive(stored).file ?? "";
            if (file !== value.split(",")[0]) created.push(file);
          } else if (/^net\d+$/.test(key)) {
            const net = parseNet(value);
            if (!net.macaddr) net.macaddr = randomMac("BC:24:11", ctx.random);
            conf[key] = formatNet(net);
          } else {
            conf[key] = value;
          }
        }
        conf.meta = `creation-qemu=9.2.0,ctime=${Math.floor(Date.now() / 1000)}`;
        if (!conf.smbios1) conf.smbios1 = `uuid=${randomUUID()}`;
        if (conf.vmgenid === undefined || conf.vmgenid === "1") conf.vmgenid = randomUUID();
        vm.conf = conf;
        if (p.pool) ctx.state.pools[p.pool]?.vms.push(vmid);
        ctx.changed();
      } catch (err) {
        for (const volid of created) freeVolume(ctx.state, volid);
        delete ctx.state.vms[vmid];
        ctx.changed();
        throw new Error(`unable to create VM ${vmid} - ${(err as Error).message}`);
      }
    });
    if (p.start) {
      t.log("Execute autostart");
      const started = startVm(ctx, node, vmid, user, false);
      await started.done;
      const result = ctx.tasks.get(started.task.upid);
      if (result?.exitstatus !== "OK") throw new Error(`start failed: ${result?.exitstatus ?? "unknown"}`);
    }
  });
}
