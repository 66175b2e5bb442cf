/**
 * POST /nodes/{node}/qemu/{vmid}/move_disk to another storage, after qemu-server's
 * move_vm_disk: early checks fail the request (no such disk, a CD-ROM, same storage and format,
 * the target storage not on the node or without `images`); then a `qmmove` task copies the
 * volume under the VM's config lock, points the drive at the copy and keeps the old volume as
 * `unusedN` (or frees it with `delete=1`). A template's moved disk becomes a base volume.
 * Reassigning a disk to another VM (`target-vmid`) is not simulated.
 */
import { formatDrive, isCloudInitVolume, parseDrive, splitVolumeId } from "./config-strings.js";
import type { SimContext } from "./context.js";
import { fail, paramError } from "./errors.js";
import { allocVolume, defaultFormat, findVolume, freeVolume, isBlockStorage, requireStorage, type StorageState, type VmState } from "./state.js";
import { checkLock } from "./vm-update.js";
import { configDigest } from "./vm-config.js";

export interface MoveDiskParams {
  disk: string;
  storage: string;
  format?: string;
  delete: boolean;
  digest?: string;
}

function loadAndCheck(ctx: SimContext, node: string, vmid: number, p: MoveDiskParams) {
  const vm = ctx.requireVm(node, vmid);
  checkLock(vm);
  if (p.digest && p.digest !== configDigest(vm)) throw fail("detected modified configuration - file changed by other user? Try again!");
  const value = vm.conf[p.disk];
  if (!value) throw fail(`disk '${p.disk}' does not exist`);
  const drive = parseDrive(value);
  const oldVolid = drive.file;
  if (!oldVolid) throw fail(`disk '${p.disk}' has no associated volume`);
  if (drive.media === "cdrom" || isCloudInitVolume(oldVolid)) throw fail("you can't move a cdrom");
  const old = splitVolumeId(oldVolid);
  if (!old) throw fail(`unable to parse volume ID '${oldVolid}'`);
  const oldFormat = findVolume(ctx.state, oldVolid)?.format;
  if (old.storage === p.storage && (!p.format || !oldFormat || oldFormat === p.format)) throw fail("you can't move to the same storage with same format");
  const target = requireStorage(ctx.state, p.storage, node);
  if (!target.content.includes("images")) throw paramError({ storage: `storage '${p.storage}' does not support vm images` });
  return { vm, drive, oldVolid };
}

function nextUnused(vm: VmState): string {
  let n = 0;
  while (vm.conf[`unused${n}`] !== undefined || vm.pending[`unused${n}`] !== undefined) n++;
  return `unused${n}`;
}

export function moveVmDisk(ctx: SimContext, node: string, vmid: number, user: string, p: MoveDiskParams) {
  loadAndCheck(ctx, node, vmid, p);
  return ctx.tasks.start(node, "qmmove", String(vmid), user, async (t) => {
    await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const { vm, drive, oldVolid } = loadAndCheck(ctx, node, vmid, p);
      t.log(`copying volume '${oldVolid}' from current storage '${splitVolumeId(oldVolid)?.storage}' to target storage '${p.storage}'`);
      const source = findVolume(ctx.state, oldVolid);
      if (!source) throw new Error(`storage migration failed: volume '${oldVolid}' does not exist`);
      await t.work();
      const target = ctx.state.storages[p.storage];
      const format = target && !isBlockStorage(target) ? targetFormat(target, p.format ?? source.format) : undefined;
      let newVolid: string;
      try {
        newVolid = allocVolume(ctx.state, p.storage, node, vmid, source.size, { format });
      } catch (err) {
        throw new Error(`storage migration failed: ${(err as Error).message}`);
      }
      t.log(`transferred ${(source.size / 2 ** 30).toFixed(1)} GiB of ${(source.size / 2 ** 30).toFixed(1)} GiB (100.00%)`);
      if (vm.conf.template === "1") newVolid = baseVolume(ctx, newVolid, vmid);
      vm.conf[p.disk] = formatDrive({ ...drive, file: newVolid });
      if (p.delete) {
        t.log(`removing source volume '${oldVolid}' after successful copy`);
        freeVolume(ctx.state, oldVolid);
      } else {
        const key = nextUnused(vm);
        vm.conf[key] = oldVolid;
        t.log(`adding source volume '${oldVolid}' as '${key}' to config`);
      }
      ctx.changed();
    });
  });
}

/** template_create for one disk: vm-N-disk-M becomes base-N-disk-M. */
function baseVolume(ctx: SimContext, volid: string, vmid: number): string {
  const parts = splitVolumeId(volid);
  const storage = parts ? ctx.state.storages[parts.storage] : undefined;
  const volume = parts ? storage?.volumes[parts.volname] : undefined;
  if (!parts || !storage || !volume) return volid;
  const renamed = parts.volname.replace(`vm-${vmid}-disk-`, `base-${vmid}-disk-`);
  delete storage.volumes[parts.volname];
  storage.volumes[renamed] = volume;
  return `${parts.storage}:${renamed}`;
}

/** Image formats a file-based storage takes (pve-storage's `dir` plugin). */
const FILE_FORMATS = ["raw", "qcow2", "vmdk"];

/**
 * qemu-server's resolve_dst_disk_format: the requested format, else the source disk's format as
 * the hint, and the storage's default when the target does not support it. (So an LVM disk,
 * raw, moved to a directory storage stays raw rather than becoming qcow2.)
 */
function targetFormat(target: StorageState, wanted: string | undefined): string {
  return wanted && FILE_FORMATS.includes(wanted) ? wanted : defaultFormat(target);
}
