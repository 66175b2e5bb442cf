/**
 * The parts of a Proxmox VM's configuration (`GET /nodes/{node}/qemu/{vmid}/config`) the
 * operator reads itself: name, tags (where the ownership marker lives), disks and the config
 * digest. Pure parsing, no I/O.
 */
export interface VmDisk {
  /** Config key: scsi0, virtio1, sata0, ide2, efidisk0, tpmstate0, ... */
  interface: string;
  /** Volume id, e.g. "local-lvm:vm-100-disk-0". */
  volume: string;
}

export interface VmConfigSummary {
  name?: string;
  /** Proxmox keeps tags as one `;`-separated string; here split, empty entries dropped. */
  tags: string[];
  /** Disks with a volume, in key order; CD-ROM drives (the cloud-init drive included) are left out. */
  disks: VmDisk[];
  /** Changes whenever the config file does. */
  digest?: string;
}

const DISK_KEY = /^(?:scsi\d+|virtio\d+|sata\d+|ide\d+|efidisk\d+|tpmstate\d+)$/;

export function vmConfigSummary(config: Record<string, unknown>): VmConfigSummary {
  const disks: VmDisk[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (!DISK_KEY.test(key) || typeof value !== "string") continue;
    const [volume = "", ...options] = value.split(",");
    if (volume === "" || volume === "none" || volume.includes("=")) continue;
    if (options.includes("media=cdrom")) continue;
    disks.push({ interface: key, volume });
  }
  disks.sort((a, b) => a.interface.localeCompare(b.interface, "en", { numeric: true }));
  const tags = typeof config.tags === "string" ? config.tags.split(/[;, ]+/).filter((t) => t !== "") : [];
  return {
    ...(typeof config.name === "string" ? { name: config.name } : {}),
    tags,
    disks,
    ...(typeof config.digest === "string" ? { digest: config.digest } : {}),
  };
}
