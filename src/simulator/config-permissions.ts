/**
 * The privilege checks qemu-server makes inside its create, update and clone handlers, after
 * the method's declared check passed (PVE/API2/Qemu.pm `check_vm_modify_config_perm`,
 * `check_storage_access`, `check_storage_access_clone`, the drive checks of `update_vm_api`,
 * and `check_bridge_access` -> PVE::GuestHelpers::check_vnet_access):
 *
 * - each option needs the privilege of its category on the VM (VM.Config.CPU for cores, cpu, ...;
 *   VM.Config.Memory; VM.Config.HWType; VM.Config.Options; VM.Config.Network for netN;
 *   VM.Config.Cloudinit or VM.Config.Network for cloud-init options); options outside every
 *   category are root's alone ("only root can set 'args' config");
 * - a drive needs VM.Config.Disk (a CD-ROM VM.Config.CDROM, a cloud-init drive both
 *   VM.Config.Cloudinit and VM.Config.CDROM); a new volume (`storage:SIZE`, `storage:cloudinit`)
 *   needs Datastore.AllocateSpace on `/storage/<storage>`;
 * - a NIC on a bridge needs SDN.Use on `/sdn/zones/localnetwork/<bridge>` (with a VLAN tag:
 *   `.../<bridge>/<tag>`); the simulator has no SDN vnets, so every bridge is in `localnetwork`.
 *
 * - passed-through devices (`check_usb_perm`, `check_hostpci_perm`, `check_dir_perm`): a USB
 *   device needs VM.Config.HWType and, when mapped, Mapping.Use on `/mapping/usb/<id>`; a PCI
 *   device must be mapped (real ones are root's), Mapping.Use on `/mapping/pci/<id>` and
 *   VM.Config.HWType; a virtiofs share VM.Config.Disk and Mapping.Use on `/mapping/dir/<id>`.
 *   An update checks the value replaced or deleted as well as the new one; a clone checks the
 *   source's devices (`check_mapping_access`). Whether the mapping exists is not checked here
 *   (qemu-server looks it up when the VM starts, mapped-devices.ts).
 *
 * With a pool given (create), a VM-level privilege on `/pool/<pool>` is as good as on the VM.
 */
import { isCloudInitVolume, parseCloudInitSpec, parseDrive, parseNet, parseNewDiskSpec, PropertyStringError, splitVolumeId, type PropObject } from "./config-strings.js";
import { deviceKindOf, mappingIdOf, parseDevice, type DeviceKind } from "./device-formats.js";
import { fail, paramError } from "./errors.js";
import { checkAnyPrivilege, checkPrivileges, hasPrivileges, ROOT_USER } from "./permissions.js";
import { isDriveKey, optionSpec } from "./qemu-schema.js";
import type { ClusterState } from "./state.js";
import type { ConfigMap } from "./vm-config.js";

const OPTION_PRIVILEGE: Record<string, string> = {};
const category = (privilege: string, keys: string[]) => keys.forEach((k) => (OPTION_PRIVILEGE[k] = privilege));
category("VM.Config.CPU", ["cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"]);
category("VM.Config.Memory", ["memory", "balloon", "shares", "allow-ksm"]);
category("VM.Config.HWType", ["acpi", "hotplug", "kvm", "machine", "runningmachine", "scsihw", "smbios1", "tablet", "vga", "watchdog", "audio0", "rng0"]);
category("VM.Config.Options", [
  "agent", "autostart", "bios", "description", "keyboard", "localtime", "migrate_downtime", "migrate_speed", "name",
  "onboot", "ostype", "protection", "reboot", "startdate", "startup", "tdf", "template",
]);
category("VM.PowerMgmt", ["freeze"]);
category("VM.Config.Disk", ["boot", "bootdisk", "vmstatestorage"]);
const CLOUDINIT_OPTIONS = new Set(["cicustom", "cipassword", "citype", "ciuser", "ciupgrade", "nameserver", "searchdomain", "sshkeys"]);

/** Where a VM-level check looks: the pool first (create only), then the VM. */
export interface VmScope {
  vmid: number;
  pool?: string;
}

/** RPCEnvironment::check_vm_perm: all (or, with `any`, one) of the privileges on the pool or the VM. */
export function checkVmPrivileges(state: ClusterState, user: string, scope: VmScope, privs: string[], any = false): void {
  if (scope.pool) {
    const poolPath = `/pool/${scope.pool}`;
    const ok = any ? privs.some((p) => hasPrivileges(state, user, poolPath, [p])) : hasPrivileges(state, user, poolPath, privs);
    if (ok) return;
  }
  const path = `/vms/${scope.vmid}`;
  if (any) checkAnyPrivilege(state, user, path, privs);
  else checkPrivileges(state, user, path, privs);
}

/** check_vm_modify_config_perm for option keys (drives, unusedN, serialN, tags are checked elsewhere). */
export function checkOptionPrivileges(state: ClusterState, user: string, scope: VmScope, keys: string[]): void {
  if (user === ROOT_USER) return;
  for (const key of keys) {
    if (isDriveKey(key) || key === "cdrom" || key === "tags" || /^(unused|serial|usb|hostpci|virtiofs)\d+$/.test(key)) continue;
    // An option the schema does not know fails parameter verification (400) in the handler.
    if (!optionSpec(key)) continue;
    const privilege = OPTION_PRIVILEGE[key];
    if (privilege) {
      checkVmPrivileges(state, user, scope, [privilege]);
      if (key === "startup") checkPrivileges(state, user, "/", ["Sys.Modify"]);
    } else if (/^numa\d+$/.test(key)) checkVmPrivileges(state, user, scope, ["VM.Config.CPU"]);
    else if (/^net\d+$/.test(key) || key === "running-nets-host-mtu") checkVmPrivileges(state, user, scope, ["VM.Config.Network"]);
    else if (CLOUDINIT_OPTIONS.has(key) || /^ipconfig\d+$/.test(key)) checkVmPrivileges(state, user, scope, ["VM.Config.Cloudinit", "VM.Config.Network"], true);
    else if (key === "vmstate") checkVmPrivileges(state, user, scope, ["VM.Config.Disk", "VM.PowerMgmt"]);
    else throw fail(`only root can set '${key}' config`);
  }
}

/** A serial port on a socket is hardware configuration; a real device is root's. */
export function checkSerialPrivileges(state: ClusterState, user: string, scope: VmScope, params: ConfigMap): void {
  if (user === ROOT_USER) return;
  for (const [key, value] of Object.entries(params)) {
    if (!/^serial\d+$/.test(key)) continue;
    if (value !== "socket") throw fail(`only root can set '${key}' config for real devices`);
    checkVmPrivileges(state, user, scope, ["VM.Config.HWType"]);
  }
}

function safeDrive(value: string): PropObject | undefined {
  try {
    return parseDrive(value);
  } catch {
    return undefined;
  }
}

/** update_vm_api's per-drive check: cloud-init, CD-ROM or disk privileges on the VM. */
export function checkDrivePrivileges(state: ClusterState, user: string, scope: VmScope, params: ConfigMap): void {
  if (user === ROOT_USER) return;
  for (const [key, value] of Object.entries(params)) {
    if (!isDriveKey(key)) continue;
    const drive = safeDrive(value);
    const file = drive?.file ?? "";
    if (parseCloudInitSpec(file) || isCloudInitVolume(file)) checkVmPrivileges(state, user, scope, ["VM.Config.Cloudinit", "VM.Config.CDROM"]);
    else if (drive?.media === "cdrom") checkVmPrivileges(state, user, scope, ["VM.Config.CDROM"]);
    else checkVmPrivileges(state, user, scope, ["VM.Config.Disk"]);
  }
}

/** check_storage_access for new volumes: Datastore.AllocateSpace on their storage. */
export function checkNewVolumePrivileges(state: ClusterState, user: string, params: ConfigMap, defaultStorage?: string): void {
  for (const [key, value] of Object.entries(params)) {
    if (!isDriveKey(key)) continue;
    const drive = safeDrive(value);
    const file = drive?.file ?? "";
    if (drive?.media === "cdrom" && file === "cdrom") {
      checkPrivileges(state, user, "/", ["Sys.Console"]);
      continue;
    }
    const fresh = parseNewDiskSpec(file);
    if (fresh && drive?.media !== "cdrom") checkPrivileges(state, user, `/storage/${fresh.storage || defaultStorage}`, ["Datastore.AllocateSpace"]);
  }
  if (params.vmstatestorage !== undefined) checkPrivileges(state, user, `/storage/${params.vmstatestorage}`, ["Datastore.AllocateSpace"]);
}

/** check_storage_access_clone: Datastore.AllocateSpace where each copied disk will live. */
export function checkCloneStoragePrivileges(state: ClusterState, user: string, conf: ConfigMap, targetStorage?: string): void {
  for (const [key, value] of Object.entries(conf)) {
    if (!isDriveKey(key)) continue;
    const drive = safeDrive(value);
    const file = drive?.file ?? "";
    if (!file || file === "none") continue;
    if (drive?.media === "cdrom") {
      if (file === "cdrom") checkPrivileges(state, user, "/", ["Sys.Console"]);
      continue;
    }
    const storage = targetStorage ?? splitVolumeId(file)?.storage;
    if (storage) checkPrivileges(state, user, `/storage/${storage}`, ["Datastore.AllocateSpace"]);
  }
  if (conf.vmstatestorage !== undefined) checkPrivileges(state, user, `/storage/${conf.vmstatestorage}`, ["Datastore.AllocateSpace"]);
}

/** check_bridge_access: SDN.Use on each NIC's bridge (or the VLAN of the bridge it is tagged with). */
export function checkBridgePrivileges(state: ClusterState, user: string, conf: ConfigMap): void {
  if (user === ROOT_USER) return;
  for (const key of Object.keys(conf).sort()) {
    if (!/^net\d+$/.test(key)) continue;
    let net: PropObject;
    try {
      net = parseNet(conf[key] as string);
    } catch {
      continue;
    }
    if (!net.bridge) continue;
    const base = `/sdn/zones/localnetwork/${net.bridge}`;
    const tags = net.trunks ? trunkTags(net.trunks) : [];
    if (net.tag) checkPrivileges(state, user, `${base}/${net.tag}`, ["SDN.Use"]);
    for (const tag of tags) checkPrivileges(state, user, `${base}/${tag}`, ["SDN.Use"]);
    if (!net.tag && tags.length === 0) checkPrivileges(state, user, base, ["SDN.Use"]);
  }
}

/** `10;20-22` -> 10, 20, 21, 22 */
function trunkTags(trunks: string): number[] {
  const out = new Set<number>();
  for (const part of trunks.split(";")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    for (let t = from; t <= to && t - from < 4096; t++) out.add(t);
  }
  return [...out].sort((a, b) => a - b);
}

/** A device value as the schema parses it; undefined when it does not parse (parameter verification reports that). */
function safeDevice(kind: DeviceKind, value: string): PropObject | undefined {
  try {
    return parseDevice(kind, value);
  } catch (err) {
    if (err instanceof PropertyStringError) return undefined;
    throw err;
  }
}

/**
 * check_usb_perm / check_hostpci_perm / check_dir_perm for one `usbN`, `hostpciN` or
 * `virtiofsN` value (`vmPerms: false`: check_mapping_access, which leaves out the VM-level
 * privileges).
 */
function checkDevice(state: ClusterState, user: string, scope: VmScope, key: string, value: string, vmPerms = true): void {
  const kind = deviceKindOf(key);
  if (!kind) return;
  if (kind === "usb" && vmPerms) checkVmPrivileges(state, user, scope, ["VM.Config.HWType"]);
  if (kind === "dir" && vmPerms) checkVmPrivileges(state, user, scope, ["VM.Config.Disk"]);
  const device = safeDevice(kind, value);
  if (!device) return;
  const mapping = mappingIdOf(kind, device);
  if (kind === "dir") {
    checkPrivileges(state, user, `/mapping/dir/${mapping}`, ["Mapping.Use"]);
    return;
  }
  if (device.host !== undefined) {
    if (kind === "usb") {
      if (!/^spice$/i.test(device.host)) throw fail(`only root can set '${key}' config for real devices`);
    } else throw fail(`only root can set '${key}' config for non-mapped devices`);
  } else if (mapping !== undefined) {
    checkPrivileges(state, user, `/mapping/${kind}/${mapping}`, ["Mapping.Use"]);
    if (kind === "pci" && vmPerms) checkVmPrivileges(state, user, scope, ["VM.Config.HWType"]);
  } else throw fail("either 'host' or 'mapping' must be set.");
  if (kind === "pci" && vmPerms && device.romfile !== undefined) throw paramError({ [key]: "only root@pam can set 'romfile' option" });
}

/** The device checks of create (the new values) and update (old value, if any, then the new one). */
export function checkDevicePrivileges(state: ClusterState, user: string, scope: VmScope, params: ConfigMap, current: ConfigMap = {}): void {
  if (user === ROOT_USER) return;
  for (const [key, value] of Object.entries(params)) {
    if (!deviceKindOf(key)) continue;
    const old = current[key];
    if (old) checkDevice(state, user, scope, key, old);
    checkDevice(state, user, scope, key, value);
  }
}

/** update_vm_api's delete branch: removing a device is checked like setting the value it had. */
export function checkDeletedDevicePrivileges(state: ClusterState, user: string, scope: VmScope, deleted: string[], current: ConfigMap, pending: ConfigMap): void {
  if (user === ROOT_USER) return;
  for (const key of deleted) {
    const value = current[key] ?? pending[key];
    if (deviceKindOf(key) && value !== undefined) checkDevice(state, user, scope, key, value);
  }
}

/** PVE::QemuServer::check_mapping_access: the clone source's devices, without VM-level checks. */
export function checkMappingAccess(state: ClusterState, user: string, scope: VmScope, conf: ConfigMap): void {
  if (user === ROOT_USER) return;
  for (const [key, value] of Object.entries(conf)) checkDevice(state, user, scope, key, value, false);
}
