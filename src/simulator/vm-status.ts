/**
 * What Proxmox reports about a VM outside its config: GET .../status/current, the VM entries
 * of GET /cluster/resources and GET /nodes/{node}/qemu, and pool members.
 */
import { isCloudInitVolume, parseDrive } from "./config-strings.js";
import type { SimContext } from "./context.js";
import { isDriveKey } from "./qemu-schema.js";
import { findVolume, type VmState } from "./state.js";

const MiB = 1024 ** 2;

export function memoryMiB(conf: Record<string, string>): number {
  const m = /(?:^|,)(?:current=)?(\d+)/.exec(conf.memory ?? "");
  return m ? Number(m[1]) : 512;
}

export function cpuCount(conf: Record<string, string>): number {
  if (conf.vcpus) return Number(conf.vcpus);
  return Number(conf.sockets ?? 1) * Number(conf.cores ?? 1);
}

/** The size of the boot disk (first disk in the boot order, else the first disk found). */
export function bootDiskSize(ctx: SimContext, conf: Record<string, string>): number {
  const order = /(?:^|,)order=([^,]+)/.exec(conf.boot ?? "")?.[1]?.split(";") ?? [];
  const candidates = [...order, conf.bootdisk ?? "", "scsi0", "virtio0", "sata0", "ide0"];
  for (const key of candidates) {
    const value = conf[key];
    if (!value || !isDriveKey(key)) continue;
    try {
      const drive = parseDrive(value);
      if (drive.media === "cdrom" || isCloudInitVolume(drive.file ?? "")) continue;
      return findVolume(ctx.state, drive.file ?? "")?.size ?? 0;
    } catch {
      continue;
    }
  }
  return 0;
}

function uptime(vm: VmState): number {
  return vm.status === "running" && vm.startedAt ? Math.floor((Date.now() - vm.startedAt) / 1000) : 0;
}

function poolOf(ctx: SimContext, vmid: number): string | undefined {
  return Object.values(ctx.state.pools).find((p) => p.vms.includes(vmid))?.id;
}

/** Shared VM statistics (PVE::QemuServer::vmstatus). */
function vmStats(ctx: SimContext, vm: VmState): Record<string, unknown> {
  const running = vm.status === "running";
  const maxmem = memoryMiB(vm.conf) * MiB;
  const out: Record<string, unknown> = {
    vmid: vm.vmid,
    status: vm.status,
    name: vm.conf.name ?? `VM ${vm.vmid}`,
    cpus: cpuCount(vm.conf),
    maxmem,
    maxdisk: bootDiskSize(ctx, vm.conf),
    disk: 0,
    uptime: uptime(vm),
    cpu: running ? 0.0123 : 0,
    mem: running ? Math.floor(maxmem * 0.42) : 0,
    netin: running ? 12345 : 0,
    netout: running ? 6789 : 0,
    diskread: running ? 1048576 : 0,
    diskwrite: running ? 524288 : 0,
  };
  if (vm.conf.tags) out.tags = vm.conf.tags;
  if (vm.conf.lock) out.lock = vm.conf.lock;
  if (vm.conf.template === "1") out.template = 1;
  return out;
}

export function vmStatusCurrent(ctx: SimContext, vm: VmState): Record<string, unknown> {
  const out = vmStats(ctx, vm);
  out.qmpstatus = vm.status;
  out.ha = { managed: 0 };
  if (vm.status === "running") {
    out.pid = vm.pid;
    out["running-machine"] = "pc-i440fx-9.2+pve1";
    out["running-qemu"] = "9.2.0";
  }
  const agent = vm.conf.agent;
  if (agent && /^(1|enabled=1)(,|$)/.test(agent)) out.agent = 1;
  const vga = vm.conf.vga ?? "";
  if (/^(type=)?(qxl|virtio)/.test(vga)) out.spice = 1;
  return out;
}

export function vmListEntry(ctx: SimContext, vm: VmState): Record<string, unknown> {
  const out = vmStats(ctx, vm);
  if (vm.status === "running") out.pid = vm.pid;
  return out;
}

export function vmResource(ctx: SimContext, vm: VmState): Record<string, unknown> {
  const stats = vmStats(ctx, vm);
  const out: Record<string, unknown> = {
    id: `qemu/${vm.vmid}`,
    type: "qemu",
    node: vm.node,
    ...stats,
    maxcpu: stats.cpus,
    template: vm.conf.template === "1" ? 1 : 0,
  };
  delete out.cpus;
  const pool = poolOf(ctx, vm.vmid);
  if (pool) out.pool = pool;
  return out;
}
