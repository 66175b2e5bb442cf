/**
 * Disk handling of VM config updates, after qemu-server's create_disks,
 * vmconfig_register_unused_drive and vmconfig_delete_or_detach_drive: `storage:SIZE` allocates
 * a new volume, `storage:cloudinit` the VM's cloud-init drive, an existing volume is attached
 * with its real size, and a detached disk becomes `unusedN` (a cloud-init drive is freed).
 */
import {
  formatDrive,
  isCloudInitVolume,
  parseCloudInitSpec,
  parseDrive,
  parseNewDiskSpec,
  splitVolumeId,
} from "./config-strings.js";
import type { SimContext } from "./context.js";
import { fail } from "./errors.js";
import { allocVolume, findVolume, freeVolume, type VmState } from "./state.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export function isOwnedBy(volid: string, vmid: number): boolean {
  const parts = splitVolumeId(volid);
  if (!parts) return false;
  const name = parts.volname.split("/").pop() ?? "";
  return name.startsWith(`vm-${vmid}-`) || name.startsWith(`base-${vmid}-`);
}

/** Turns a requested drive value into the stored one, allocating storage where asked. */
export function createDisk(ctx: SimContext, vm: VmState, key: string, value: string): string {
  const drive = parseDrive(value);
  const file = drive.file as string;
  const ci = parseCloudInitSpec(file);
  const fresh = parseNewDiskSpec(file);
  if (ci) {
    const volid = allocVolume(ctx.state, ci.storage, vm.node, vm.vmid, 4 * MiB, { cloudinit: true, format: drive.format });
    drive.file = volid;
    drive.media = "cdrom";
    delete drive.format;
    delete drive.size;
    return formatDrive(drive);
  }
  if (fresh) {
    let size = Math.round(fresh.sizeGiB * GiB);
    const importFrom = drive["import-from"];
    if (importFrom) {
      const from = splitVolumeId(importFrom);
      const fromStorage = from ? ctx.state.storages[from.storage] : undefined;
      if (fromStorage) ctx.files.rescan(fromStorage);
      const source = findVolume(ctx.state, importFrom);
      if (!source) throw fail(`volume '${importFrom}' does not exist`);
      size = source.virtualSize ?? source.size;
      delete drive["import-from"];
    }
    const volid = allocVolume(ctx.state, fresh.storage, vm.node, vm.vmid, size, { format: drive.format });
    drive.file = volid;
    drive.size = String(size);
    delete drive.format;
    return formatDrive(drive);
  }
  if (file === "none" || file === "cdrom") return formatDrive(drive);
  const parts = splitVolumeId(file);
  if (!parts) {
    if (file.startsWith("/")) return formatDrive(drive); // pass-through path, as Proxmox allows for root
    throw fail(`unable to parse volume ID '${file}'`);
  }
  const storage = ctx.state.storages[parts.storage];
  if (!storage) throw fail(`storage '${parts.storage}' does not exist`);
  const volume = storage.volumes[parts.volname];
  if (!volume) throw fail(`volume '${file}' does not exist`);
  const current = [vm.conf[key], vm.pending[key]].filter((v): v is string => v !== undefined);
  const sameVolume = current.some((v) => {
    try {
      return parseDrive(v).file === file;
    } catch {
      return false;
    }
  });
  if (!sameVolume && drive.media !== "cdrom") drive.size = String(volume.size);
  // An unused disk that is attached again is no longer unused.
  for (const [k, v] of Object.entries(vm.conf)) if (/^unused\d+$/.test(k) && v === file) delete vm.conf[k];
  return formatDrive(drive);
}

/** A disk leaving the config: cloud-init drives are freed, owned disks become unusedN. */
export function registerUnusedDrive(ctx: SimContext, vm: VmState, value: string): void {
  let drive;
  try {
    drive = parseDrive(value);
  } catch {
    return;
  }
  const file = drive.file ?? "";
  if (isCloudInitVolume(file)) {
    freeVolume(ctx.state, file);
    return;
  }
  if (drive.media === "cdrom" || file === "none" || !isOwnedBy(file, vm.vmid)) return;
  const all = { ...vm.conf, ...vm.pending };
  for (const v of Object.entries(all)) {
    if (/^unused\d+$/.test(v[0]) && v[1] === file) return;
  }
  let n = 0;
  while (vm.conf[`unused${n}`] !== undefined || vm.pending[`unused${n}`] !== undefined) n++;
  vm.conf[`unused${n}`] = file;
}

/** Removes a drive from a stopped VM: forced deletes free the volume, others detach it. */
export function deleteOrDetachDrive(ctx: SimContext, vm: VmState, value: string, force: boolean): void {
  if (!force) {
    registerUnusedDrive(ctx, vm, value);
    return;
  }
  try {
    const drive = parseDrive(value);
    if (drive.file && drive.media !== "cdrom" && isOwnedBy(drive.file, vm.vmid)) freeVolume(ctx.state, drive.file);
    else if (drive.file && isCloudInitVolume(drive.file)) freeVolume(ctx.state, drive.file);
  } catch {
    // unparsable drive: nothing to free
  }
}

export function driveVolume(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDrive(value).file;
  } catch {
    return undefined;
  }
}
