/**
 * The simulated cluster: nodes, storages with their volumes, pools and VMs (config, pending
 * changes, power state). Holds the storage rules Proxmox applies when it allocates and frees
 * volumes, builds the state from a seed, and saves/restores it to a JSON file so a restart
 * loses nothing.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import {
  formatSize,
  parseDrive,
  parseSize,
  splitVolumeId,
  isCloudInitVolume,
  PropertyStringError,
} from "./config-strings.js";
import { fail } from "./errors.js";
import { isDriveKey, validateOption } from "./qemu-schema.js";
import { hashPassword, tokenOwner, type UserState } from "./access.js";
import { accessFromSeed } from "./access-seed.js";
import type { AccessControlState } from "./permissions.js";
import type { Seed } from "./seed.js";
import type { TaskRecord } from "./tasks.js";
import type { ConfigMap } from "./vm-config.js";

export interface VolumeState {
  size: number;
  format: string;
  content: string;
  vmid?: number;
  /** Creation time (Unix seconds) of a file volume. */
  ctime?: number;
  /** The volume is a real file under the simulator's data directory (see storage-files.ts). */
  onDisk?: boolean;
  /** For disk images kept as files (iso/import content): the size a disk imported from it gets. */
  virtualSize?: number;
  /** For disk images kept as files: the image format found in the file's header. */
  imageFormat?: string;
}

export interface StorageState {
  id: string;
  type: string;
  content: string[];
  shared: boolean;
  total: number;
  nodes?: string[];
  /** volname (the part after "storage:") -> volume */
  volumes: Record<string, VolumeState>;
}

export interface NodeState {
  name: string;
  cpus: number;
  memory: number;
  bridges: string[];
  /** Set while the node is offline: the connection error its API proxy gives (see node-reachability.ts). */
  unreachable?: string;
}

export interface PoolState {
  id: string;
  comment?: string;
  vms: number[];
  storage: string[];
}

export interface VmState {
  vmid: number;
  node: string;
  conf: ConfigMap;
  pending: ConfigMap;
  status: "running" | "stopped";
  startedAt?: number;
  pid?: number;
}

export interface Token {
  id: string;
  secret: string;
  /** Privilege separation (Proxmox's default): the token gets its own ACLs, not its user's. */
  privsep?: boolean;
}

export type MappingType = "pci" | "usb" | "dir";

/** One /cluster/mapping entry: a property string per node, as pve-guest-common keeps them. */
export interface MappingEntry {
  map: string[];
  description?: string;
  mdev?: boolean;
  liveMigration?: boolean;
}

export interface ClusterState {
  version: string;
  tokens: Token[];
  /** userid -> user (pve-access-control's user.cfg). */
  users: Record<string, UserState>;
  nodes: Record<string, NodeState>;
  storages: Record<string, StorageState>;
  pools: Record<string, PoolState>;
  vms: Record<string, VmState>;
  /** Resource mappings by type and id. */
  mappings: Record<MappingType, Record<string, MappingEntry>>;
  /** Roles, groups and ACL (permissions.ts); absent in state files written before privileges existed. */
  access?: AccessControlState;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const BLOCK_TYPES = new Set(["lvmthin", "lvm", "zfspool", "rbd"]);

export function isBlockStorage(s: StorageState): boolean {
  return BLOCK_TYPES.has(s.type);
}

export function defaultFormat(s: StorageState): string {
  return isBlockStorage(s) ? "raw" : "qcow2";
}

export function usedBytes(s: StorageState): number {
  return Object.values(s.volumes).reduce((sum, v) => sum + v.size, 0);
}

export function storageOnNode(s: StorageState, node: string): boolean {
  return !s.nodes || s.nodes.includes(node);
}

/** PVE::Storage::storage_check_enabled (+ the node check the API does first). */
export function requireStorage(state: ClusterState, storage: string, node: string): StorageState {
  const s = state.storages[storage];
  if (!s) throw fail(`storage '${storage}' does not exist`);
  if (!storageOnNode(s, node)) throw fail(`storage '${storage}' is not available on node '${node}'`);
  return s;
}

/** The volname part for a storage type: block storages have flat names, file storages paths. */
function volname(s: StorageState, name: string, format: string): string {
  if (isBlockStorage(s)) return name;
  const vmid = /^(?:vm|base)-(\d+)-/.exec(name)?.[1] ?? "0";
  return `${vmid}/${name}.${format}`;
}

function diskNameTaken(s: StorageState, vmid: number, n: number): boolean {
  return Object.keys(s.volumes).some((v) => {
    const base = v.split("/").pop() ?? v;
    return base.startsWith(`vm-${vmid}-disk-${n}`) || base.startsWith(`base-${vmid}-disk-${n}`);
  });
}

function outOfSpace(s: StorageState, name: string, size: number): Error {
  const free = s.total - usedBytes(s);
  if (isBlockStorage(s)) {
    const extents = (b: number) => Math.floor(b / (4 * MiB));
    return fail(
      `lvcreate 'pve/${name}' error:   Volume group "pve" has insufficient free space (${extents(free)} extents): ${extents(size)} required.`,
    );
  }
  return fail(`unable to create image: qemu-img: ${name}: Could not resize file: No space left on device`);
}

export interface AllocOptions {
  cloudinit?: boolean;
  format?: string;
  name?: string;
}

/** PVE::Storage::vdisk_alloc: a new volume for `vmid` on `storage`; returns its volume id. */
export function allocVolume(state: ClusterState, storage: string, node: string, vmid: number, size: number, opts: AllocOptions = {}): string {
  const s = requireStorage(state, storage, node);
  if (!s.content.includes("images")) throw fail(`storage '${storage}' does not support vm images`);
  const format = opts.format && !isBlockStorage(s) ? opts.format : defaultFormat(s);
  let name = opts.name;
  if (!name) {
    if (opts.cloudinit) {
      name = `vm-${vmid}-cloudinit`;
    } else {
      let n = 0;
      while (diskNameTaken(s, vmid, n)) n++;
      name = `vm-${vmid}-disk-${n}`;
    }
  }
  const vn = volname(s, name, format);
  if (s.volumes[vn]) throw fail(`volume '${storage}:${vn}' already exists`);
  if (usedBytes(s) + size > s.total) throw outOfSpace(s, name, size);
  s.volumes[vn] = { size, format, content: "images", vmid };
  return `${storage}:${vn}`;
}

export function findVolume(state: ClusterState, volid: string): VolumeState | undefined {
  const parts = splitVolumeId(volid);
  if (!parts) return undefined;
  return state.storages[parts.storage]?.volumes[parts.volname];
}

export function freeVolume(state: ClusterState, volid: string): void {
  const parts = splitVolumeId(volid);
  if (!parts) return;
  const s = state.storages[parts.storage];
  if (s) delete s.volumes[parts.volname];
}

export function formatBytes(bytes: number): string {
  return formatSize(bytes);
}

// ---- building state from a seed -------------------------------------------------------------

/** root@pam always exists; every token's owner exists; seeded passwords are stored hashed. */
export function usersFromSeed(seed: Seed, tokens: Token[]): Record<string, UserState> {
  const users: Record<string, UserState> = { "root@pam": { userid: "root@pam", enable: true, expire: 0 } };
  for (const t of tokens) {
    const owner = tokenOwner(t.id);
    users[owner] ??= { userid: owner, enable: true, expire: 0 };
  }
  for (const u of seed.users) {
    users[u.id] = {
      userid: u.id,
      enable: u.enable,
      expire: u.expire,
      ...(u.password ? { passwordHash: hashPassword(u.password) } : {}),
      ...(u.comment ? { comment: u.comment } : {}),
      ...(u.email ? { email: u.email } : {}),
      ...(u.sshKeys ? { sshKeys: [...u.sshKeys] } : {}),
    };
  }
  return users;
}

export function stateFromSeed(seed: Seed, tokens: Token[]): ClusterState {
  const users = usersFromSeed(seed, tokens);
  const access = accessFromSeed(seed, Object.keys(users), tokens.map((t) => t.id));
  const state: ClusterState = { version: seed.version, tokens, users, nodes: {}, storages: {}, pools: {}, vms: {}, mappings: { pci: {}, usb: {}, dir: {} }, access };
  for (const n of seed.nodes) {
    state.nodes[n.name] = { name: n.name, cpus: n.cpus, memory: Math.round(n.memoryGiB * GiB), bridges: [...n.bridges] };
  }
  for (const s of seed.storages) {
    const storage: StorageState = {
      id: s.id,
      type: s.type,
      content: [...s.content],
      shared: s.shared,
      total: Math.round(s.sizeGiB * GiB),
      nodes: s.nodes ? [...s.nodes] : undefined,
      volumes: {},
    };
    for (const f of s.files) {
      const content = f.volume.split("/")[0] ?? "iso";
      storage.volumes[f.volume] = { size: Math.round(f.sizeMiB * MiB), format: f.volume.split(".").pop() ?? "raw", content };
    }
    state.storages[s.id] = storage;
  }
  for (const p of seed.pools) state.pools[p.id] = { id: p.id, comment: p.comment, vms: [], storage: [] };
  const problems: string[] = [];
  const addVm = (vm: Seed["vms"][number], where: string, template: boolean) => {
    const node = vm.node ?? seed.nodes[0]?.name ?? "pve1";
    const conf: ConfigMap = {};
    for (const [key, raw] of Object.entries(vm.config)) {
      try {
        conf[key] = validateOption(key, raw);
      } catch (err) {
        problems.push(`  ${where}.config.${key}: ${(err as Error).message}`);
      }
    }
    if (template) conf.template = "1";
    for (const [key, value] of Object.entries(conf)) {
      if (!isDriveKey(key) && !/^unused\d+$/.test(key)) continue;
      let drive;
      try {
        drive = parseDrive(value);
      } catch (err) {
        if (!(err instanceof PropertyStringError)) throw err;
        continue;
      }
      const file = drive.file ?? "";
      const parts = splitVolumeId(file);
      if (!parts || file === "none" || (drive.media === "cdrom" && !isCloudInitVolume(file))) continue;
      const storage = state.storages[parts.storage];
      if (!storage) {
        problems.push(`  ${where}.config.${key}: storage '${parts.storage}' is not defined`);
        continue;
      }
      if (!storage.volumes[parts.volname]) {
        const size = isCloudInitVolume(file) ? 4 * MiB : (parseSize(drive.size ?? "") ?? 8 * GiB);
        storage.volumes[parts.volname] = {
          size,
          format: /\.(\w+)$/.exec(parts.volname)?.[1] ?? defaultFormat(storage),
          content: "images",
          vmid: vm.vmid,
        };
      }
    }
    state.vms[vm.vmid] = {
      vmid: vm.vmid,
      node,
      conf,
      pending: {},
      status: vm.status,
      startedAt: vm.status === "running" ? Date.now() : undefined,
      pid: vm.status === "running" ? 1000 + vm.vmid : undefined,
    };
    if (vm.pool) state.pools[vm.pool]?.vms.push(vm.vmid);
  };
  seed.templates.forEach((vm, i) => addVm(vm, `templates.${i}`, true));
  seed.vms.forEach((vm, i) => addVm(vm, `vms.${i}`, false));
  if (problems.length > 0) throw new Error(`invalid simulator config:\n${problems.join("\n")}`);
  return state;
}

// ---- persistence ----------------------------------------------------------------------------

interface PersistedFile {
  format: "pve-sim-state/1";
  state: ClusterState;
  tasks: TaskRecord[];
}

export function loadStateFile(file: string): { state: ClusterState; tasks: TaskRecord[] } | undefined {
  if (!existsSync(file)) return undefined;
  const data = JSON.parse(readFileSync(file, "utf8")) as PersistedFile;
  if (data.format !== "pve-sim-state/1") throw new Error(`${file} is not a simulator state file`);
  return { state: data.state, tasks: data.tasks ?? [] };
}

export function saveStateFile(file: string, state: ClusterState, tasks: TaskRecord[]): void {
  const data: PersistedFile = { format: "pve-sim-state/1", state, tasks };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, file);
}
