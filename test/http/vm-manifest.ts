/** A small ProxmoxVM for the sidecar tests (the simulator's template 9000, node pve1). */
export function vmManifest(name: string, spec: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return {
    apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
    kind: "ProxmoxVM",
    metadata: { name, labels },
    spec: {
      connectionRef: { name: "pve" },
      nodeName: "pve1",
      clone: { vmId: 9000 },
      cpu: { cores: 1 },
      memory: { dedicated: 512 },
      disks: [{ interface: "scsi0", datastoreId: "local-lvm", size: 8 }],
      networkDevices: [{ bridge: "vmbr0", model: "virtio" }],
      started: true,
      ...spec,
    },
  };
}
