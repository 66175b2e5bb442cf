/**
 * ProxmoxVM specs for the synthesis tests (unit and integration), each parsed by the real zod
 * schema so a fixture can never drift away from what the API server would accept.
 */
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec, type ProxmoxVMSpecInput } from "../../src/api/proxmox-vm.js";
import type { SynthesisInput } from "../../src/synth/synthesis-input.js";

export const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPedy3AxFypkG7Q2nbyIl2u1+e7dJHJMwToygb7aQTRi ptm@test";

export function spec(input: Omit<ProxmoxVMSpecInput, "connectionRef"> & Partial<Pick<ProxmoxVMSpecInput, "connectionRef">>): ProxmoxVMSpec {
  return ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, ...input });
}

export const minimal = spec({ nodeName: "pve1", clone: { vmId: 9000 } });

/** Every synthesized spec field set, with values that differ from the provider's defaults. */
export const full = spec({
  nodeName: "pve1",
  vmId: 4321,
  name: "web-1.example",
  description: "managed by ptm\nsecond line",
  tags: ["web", "prod"],
  clone: { vmId: 9000, nodeName: "pve2", full: true, datastoreId: "fast-ssd" },
  cpu: { cores: 4, sockets: 2, type: "x86-64-v2-AES" },
  memory: { dedicated: 4096, floating: 2048 },
  disks: [
    { interface: "scsi0", datastoreId: "local-lvm", size: 40, fileFormat: "raw", ssd: true, discard: "on", iothread: true },
  ],
  networkDevices: [{ bridge: "vmbr1", model: "e1000", vlanId: 42, macAddress: "BC:24:11:00:00:01", firewall: true, mtu: 9000 }],
  initialization: {
    datastoreId: "local-lvm",
    userAccount: { username: "ubuntu", keys: [SSH_KEY], passwordSecretRef: { name: "web-1-password", key: "password" } },
    ipConfigs: [{ ipv4: { address: "192.0.2.10/24", gateway: "192.0.2.1" } }],
    dns: { servers: ["192.0.2.53", "1.1.1.1"], domain: "example.internal" },
  },
  agent: { enabled: true, timeout: "15m" },
  started: false,
  onBoot: false,
  protection: true,
  poolId: "web",
  // Operator-only: must never reach the JSON.
  connectionRef: { name: "pve-prod" },
  deletionPolicy: "Orphan",
  approval: "Manual",
  driftDetection: { interval: "30m", mode: "Report" },
  suspend: true,
  managementPolicy: "ObserveOnly",
});

/** The validation matrix: each case exercises a different part of the mapping against the real provider. */
export const matrix: Record<string, ProxmoxVMSpec> = {
  minimal,
  full,
  "multiple disks and NICs": spec({
    nodeName: "pve1",
    clone: { vmId: 9000 },
    disks: [
      { interface: "scsi0", size: 20 },
      { interface: "scsi1", datastoreId: "local-lvm", size: 100, fileFormat: "raw", iothread: true },
      { interface: "virtio2", size: 8, fileFormat: "qcow2", discard: "ignore" },
      { interface: "sata0", size: 1, ssd: true },
    ],
    networkDevices: [{ bridge: "vmbr0" }, { bridge: "vmbr1", vlanId: 100 }, { bridge: "vmbr2", model: "vmxnet3", mtu: 1 }],
  }),
  "cloud-init with password variable": spec({
    nodeName: "pve1",
    clone: { vmId: 9000 },
    initialization: { userAccount: { username: "admin", passwordSecretRef: { name: "vm-password", key: "password" } } },
  }),
  dhcp: spec({
    nodeName: "pve1",
    clone: { vmId: 9000 },
    networkDevices: [{ bridge: "vmbr0" }, { bridge: "vmbr1" }],
    initialization: { ipConfigs: [{ ipv4: { address: "dhcp" } }, {}], dns: { domain: "lan" } },
    agent: { enabled: true },
  }),
  "linked clone from another node": spec({
    nodeName: "pve1",
    clone: { vmId: 9001, nodeName: "pve2", full: false },
  }),
  "full clone to another datastore": spec({
    nodeName: "pve1",
    clone: { vmId: 9000, full: true, datastoreId: "ceph-rbd" },
    disks: [{ interface: "scsi0", datastoreId: "ceph-rbd", size: 32 }],
  }),
  "tags, pool and protection": spec({
    nodeName: "pve1",
    clone: { vmId: 9000 },
    tags: ["zeta", "alpha", "k8s_node", "v1.2+build"],
    poolId: "kubernetes",
    protection: true,
    onBoot: true,
    started: true,
  }),
  "agent with timeout": spec({
    nodeName: "pve1",
    clone: { vmId: 9000 },
    agent: { enabled: true, timeout: "1h30m" },
  }),
  "static IPs and empty blocks": spec({
    nodeName: "pve1",
    vmId: 100,
    clone: { vmId: 9000 },
    cpu: {},
    memory: { dedicated: 64, floating: 0 },
    initialization: {
      userAccount: { keys: [SSH_KEY] },
      ipConfigs: [{ ipv4: { address: "10.0.0.2/8", gateway: "10.0.0.1" } }, { ipv4: { address: "172.16.0.2/12" } }],
      dns: { servers: ["10.0.0.1"] },
    },
  }),
};

export function synthesisInput(vmSpec: ProxmoxVMSpec, overrides: Partial<SynthesisInput> = {}): SynthesisInput {
  return {
    namespace: "team-a",
    name: "web-1",
    spec: vmSpec,
    providerVersion: "0.111.1",
    toolVersion: "tofu 1.12.6",
    ...overrides,
  };
}
