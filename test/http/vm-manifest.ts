import { proxmoxVm } from "../support/manifests.js";

/** A small ProxmoxVM for the sidecar tests, with the disk and network the status page shows. */
export function vmManifest(name: string, spec: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return proxmoxVm(
    name,
    {
      cpu: { cores: 1 },
      memory: { dedicated: 512 },
      disks: [{ interface: "scsi0", datastoreId: "local-lvm", size: 8 }],
      networkDevices: [{ bridge: "vmbr0", model: "virtio" }],
      started: true,
      ...spec,
    },
    { labels },
  );
}
