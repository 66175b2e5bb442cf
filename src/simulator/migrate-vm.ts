/**
 * POST /nodes/{node}/qemu/{vmid}/migrate, after qemu-server's migrate_vm (PVE/API2/Qemu.pm) and
 * PVE::QemuMigrate: the request fails early when the target is the local node, not a cluster
 * node, the VM is locked, it runs and `online` is not set, or one of its volumes' storages is
 * not available on the target; otherwise a `qmigrate` task holds the VM's `migrate` lock, moves
 * the config to the target node and releases the lock. The simulator keeps a storage's volumes
 * in one namespace, so a local volume keeps its id on the target (as the copy Proxmox makes
 * does). A target node that is offline fails the task the way the SSH check in
 * QemuMigrate::prepare does. `targetstorage` (mapping volumes to other storages) is not simulated.
 */
import { splitVolumeId } from "./config-strings.js";
import type { SimContext } from "./context.js";
import { fail, paramError } from "./errors.js";
import { isOffline } from "./node-reachability.js";
import { ROOT_USER } from "./permissions.js";
import { storageOnNode } from "./state.js";
import { checkLock } from "./vm-update.js";

export interface MigrateParams {
  target: string;
  online: boolean;
  force: boolean;
  withLocalDisks: boolean;
  targetstorage?: string;
}

/** Volume ids a VM's config references (disks, unused volumes, cloud-init drives). */
function volumesOf(conf: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(conf)) {
    if (!/^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)\d+$/.test(key)) continue;
    const file = value.split(",")[0] ?? "";
    if (file === "none" || file === "cdrom" || file.startsWith("/") || !splitVolumeId(file)) continue;
    out.push(file);
  }
  return out;
}

function check(ctx: SimContext, node: string, vmid: number, user: string, p: MigrateParams) {
  if (p.target === node) throw paramError({ target: "target is local node." });
  if (!ctx.state.nodes[p.target]) throw fail(`no such cluster node '${p.target}'`);
  if (p.force && user !== ROOT_USER) throw paramError({ force: "Only root may use this option." });
  if (p.targetstorage !== undefined) throw fail("the simulator does not model migrating volumes to another storage (targetstorage); no ProxmoxVM field asks for it", 501);
  const vm = ctx.requireVm(node, vmid);
  checkLock(vm);
  if (vm.status === "running" && !p.online) throw fail("can't migrate running VM without --online");
  const volumes = volumesOf(vm.conf);
  for (const volid of volumes) {
    const sid = splitVolumeId(volid)!.storage;
    const storage = ctx.state.storages[sid];
    if (!storage) throw fail(`storage '${sid}' does not exist`);
    if (!storageOnNode(storage, p.target)) throw fail(`storage '${sid}' is not available on node '${p.target}'`);
    if (vm.status === "running" && !storage.shared && !p.withLocalDisks) throw fail("can't live migrate attached local disks without with-local-disks option");
  }
  return { vm, volumes };
}

export function migrateVm(ctx: SimContext, node: string, vmid: number, user: string, p: MigrateParams) {
  check(ctx, node, vmid, user, p);
  return ctx.tasks.start(node, "qmigrate", String(vmid), user, async (t) => {
    const { vm, volumes } = await ctx.locks.withLock(vmid, { timeoutMs: ctx.lockWait() }, async () => {
      const checked = check(ctx, node, vmid, user, p);
      checked.vm.conf.lock = "migrate";
      ctx.changed();
      return checked;
    });
    try {
      t.log(`starting migration of VM ${vmid} to node '${p.target}'`);
      if (isOffline(ctx.state.nodes[p.target])) throw new Error("Can't connect to destination address using public key");
      for (const volid of volumes) {
        const storage = ctx.state.storages[splitVolumeId(volid)!.storage];
        if (storage && !storage.shared) t.log(`found local disk '${volid}'`);
      }
      await t.work();
      for (const volid of volumes) t.log(`volume '${volid}' is '${volid}' on the target`);
      vm.node = p.target;
      t.log("migration finished successfully");
    } finally {
      delete vm.conf.lock;
      ctx.changed();
    }
  });
}
