import { z } from "zod";

/**
 * The ProxmoxVM spec: the one source of truth. The CRD's openAPIV3Schema is generated from
 * these schemas (scripts/generate-crds.ts) and a unit test fails when crds/ is stale.
 *
 * Field names mirror the bpg/proxmox provider's `proxmox_virtual_environment_vm` in camelCase so
 * synthesis maps them one to one. Defaults are left to the provider unless the operator needs one.
 */

const listMap = (...keys: string[]) => ({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys });
const atomicList = { "x-kubernetes-list-type": "atomic" };
const setList = { "x-kubernetes-list-type": "set" };

const dnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label: lower-case letters, digits and '-'");

export const SecretKeyRefSchema = z
  .object({
    name: dnsLabel.max(253).describe("Name of a Secret in the ProxmoxVM's namespace."),
    key: z.string().min(1).max(253).describe("Key within the Secret."),
  })
  .strict();

const datastoreId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z][a-zA-Z0-9\-_.]*$/, "must be a Proxmox storage ID such as local-lvm");

const nodeName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, "must be a Proxmox node name such as pve1");

/** Proxmox VM ids: 100..999999999 (pve-manager's datacenter limits). */
const vmId = z.int().min(100).max(999_999_999);

export const CloneSchema = z
  .object({
    vmId: vmId.describe("VM id of the template to clone."),
    nodeName: nodeName.optional().describe("Node that holds the template; defaults to the VM's nodeName."),
    full: z.boolean().optional().describe("Full clone (true, the provider's default) or linked clone."),
    datastoreId: datastoreId.optional().describe("Target storage for a full clone's disks."),
  })
  .strict();

/** The CPU models bpg/proxmox 0.111.1 accepts (proxmoxtf/resource/vm/validators.go), or custom-<name>. */
const CPU_TYPE = new RegExp(`^(${"486|Broadwell|Broadwell-IBRS|Broadwell-noTSX|Broadwell-noTSX-IBRS|Cascadelake-Server|Cascadelake-Server-noTSX|Cascadelake-Server-v2|Cascadelake-Server-v4|Cascadelake-Server-v5|Conroe|Cooperlake|Cooperlake-v2|EPYC|EPYC-Genoa|EPYC-IBPB|EPYC-Milan|EPYC-Rome|EPYC-Rome-v2|EPYC-Rome-v3|EPYC-Rome-v4|EPYC-v3|EPYC-v4|Haswell|Haswell-IBRS|Haswell-noTSX|Haswell-noTSX-IBRS|Icelake-Client|Icelake-Client-noTSX|Icelake-Server|Icelake-Server-noTSX|Icelake-Server-v3|Icelake-Server-v4|Icelake-Server-v5|Icelake-Server-v6|IvyBridge|IvyBridge-IBRS|KnightsMill|Nehalem|Nehalem-IBRS|Opteron_G1|Opteron_G2|Opteron_G3|Opteron_G4|Opteron_G5|Penryn|SandyBridge|SandyBridge-IBRS|SapphireRapids|Skylake-Client|Skylake-Client-IBRS|Skylake-Client-noTSX-IBRS|Skylake-Client-v4|Skylake-Server|Skylake-Server-IBRS|Skylake-Server-noTSX-IBRS|Skylake-Server-v4|Skylake-Server-v5|Westmere|Westmere-IBRS|athlon|core2duo|coreduo|host|kvm32|kvm64|max|pentium|pentium2|pentium3|phenom|qemu32|qemu64|x86-64-v2|x86-64-v2-AES|x86-64-v3|x86-64-v4".replaceAll(".", "\\.")}|custom-.+)$`);

export const CpuSchema = z
  .object({
    cores: z.int().min(1).max(1024).optional().describe("Cores per socket (provider default 1)."),
    sockets: z.int().min(1).max(16).optional().describe("Sockets (provider default 1)."),
    type: z
      .string()
      .regex(CPU_TYPE, "must be a QEMU CPU model such as host, x86-64-v2-AES or kvm64, or custom-<name>")
      .optional()
      .describe("CPU type, e.g. host or x86-64-v2-AES (provider default qemu64)."),
  })
  .strict();

export const MemorySchema = z
  .object({
    dedicated: z.int().min(64).max(4_194_304).optional().describe("Memory in MiB (provider default 512)."),
    floating: z.int().min(0).max(4_194_304).optional().describe("Ballooning minimum in MiB; 0 disables ballooning."),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!has(self.floating) || !has(self.dedicated) || self.floating <= self.dedicated",
        message: "memory.floating must not exceed memory.dedicated",
      },
    ],
  });

export const DiskSchema = z
  .object({
    interface: z
      .string()
      .regex(/^(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3])$/, "must be a disk slot such as scsi0, virtio1, sata0")
      .describe("Bus and slot, e.g. scsi0; the key that identifies the disk."),
    datastoreId: datastoreId.optional().describe("Storage for the disk (provider default local-lvm)."),
    size: z.int().min(1).max(131_072).optional().describe("Size in GiB; can grow, never shrink."),
    fileFormat: z.enum(["raw", "qcow2", "vmdk"]).optional(),
    ssd: z.boolean().optional(),
    discard: z.enum(["on", "ignore"]).optional(),
    iothread: z.boolean().optional(),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!has(oldSelf.size) || !has(self.size) || self.size >= oldSelf.size",
        message: "a disk's size can grow but never shrink",
      },
    ],
  });

export const NetworkDeviceSchema = z
  .object({
    bridge: z.string().min(1).max(64).regex(/^[a-zA-Z][a-zA-Z0-9_.-]*$/, "must be a bridge name such as vmbr0").describe("Host bridge, e.g. vmbr0."),
    model: z.enum(["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"]).optional(),
    vlanId: z.int().min(1).max(4094).optional(),
    macAddress: z
      .string()
      .regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, "must be a MAC address such as BC:24:11:00:00:01")
      .optional(),
    firewall: z.boolean().optional(),
    mtu: z.int().min(1).max(65_520).optional(),
  })
  .strict();

const ipv4Cidr = z
  .string()
  .regex(/^(dhcp|((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)\/([0-9]|[12][0-9]|3[0-2]))$/, "must be dhcp or an IPv4 address with prefix length, e.g. 192.0.2.10/24");
const ipv4 = z.string().regex(/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/, "must be an IPv4 address");

export const IpConfigSchema = z
  .object({
    ipv4: z
      .object({
        address: ipv4Cidr.describe("dhcp, or an address with prefix length."),
        gateway: ipv4.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const InitializationSchema = z
  .object({
    datastoreId: datastoreId.optional().describe("Storage for the cloud-init drive."),
    userAccount: z
      .object({
        username: z.string().min(1).max(32).regex(/^[a-z_][a-z0-9_-]*$/, "must be a Linux user name").optional(),
        keys: z
          .array(z.string().regex(/^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$/, "must be an OpenSSH public key"))
          .max(32)
          .meta(atomicList)
          .optional(),
        passwordSecretRef: SecretKeyRefSchema.optional().describe("Secret key holding the user's password; never copied anywhere else."),
      })
      .strict()
      .optional(),
    ipConfigs: z.array(IpConfigSchema).max(8).meta(atomicList).optional().describe("One entry per network device, in order."),
    dns: z
      .object({
        servers: z.array(ipv4).max(3).meta(atomicList).optional(),
        domain: z.string().min(1).max(253).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const AgentSchema = z
  .object({
    enabled: z.boolean().optional().describe("Enable the QEMU guest agent (needed to report IP addresses)."),
    timeout: z
      .string()
      .regex(/^([0-9]+(s|m|h))+$/, "must be a duration such as 15m or 90s")
      .optional()
      .describe("How long to wait for the agent to report addresses."),
  })
  .strict();

const duration = z.string().regex(/^([0-9]+(s|m|h))+$/, "must be a duration such as 30m, 1h or 90s");

export const DriftDetectionSchema = z
  .object({
    interval: duration.optional().describe("How often to plan for drift when nothing changed (default 1h)."),
    mode: z.enum(["Correct", "Report"]).optional().describe("Correct: apply to undo drift; Report: only report it."),
  })
  .strict();

/** The keys an output ConfigMap or Secret can hold (see src/vm/output-writer.ts). */
export const OUTPUT_KEYS = ["vm_id", "node", "name", "ipv4_addresses", "ipv6_addresses", "mac_addresses"] as const;

export const WriteOutputsToSchema = z
  .object({
    configMapName: dnsLabel.max(253).optional().describe("A ConfigMap in the VM's namespace to write the outputs to (created and owned by the ProxmoxVM)."),
    secretName: dnsLabel.max(253).optional().describe("A Secret in the VM's namespace to write the outputs to (created and owned by the ProxmoxVM)."),
    keys: z
      .array(z.enum(OUTPUT_KEYS))
      .min(1)
      .max(OUTPUT_KEYS.length)
      .meta(setList)
      .optional()
      .describe("Which outputs to write (default all): vm_id, node, name, ipv4_addresses, ipv6_addresses, mac_addresses. Lists are comma-separated."),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      { rule: "has(self.configMapName) != has(self.secretName)", message: "writeOutputsTo needs exactly one of configMapName and secretName" },
    ],
  });

export const ProxmoxVMSpecSchema = z
  .object({
    connectionRef: z
      .object({ name: dnsLabel.max(253).describe("A ProxmoxConnection in the same namespace.") })
      .strict(),
    nodeName: nodeName.describe("Proxmox node the VM runs on."),
    vmId: vmId.optional().describe("VM id; chosen by Proxmox when omitted, and fixed once set."),
    name: z
      .string()
      .max(63)
      .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/, "must be a DNS name: labels of letters, digits and inner '-', joined by '.'")
      .optional()
      .describe("VM name in Proxmox; defaults to metadata.name."),
    description: z.string().max(8192).optional(),
    tags: z
      .array(z.string().regex(/^[a-z0-9_][a-z0-9_+.-]*$/, "must be a Proxmox tag: lower-case letters, digits, _ + . -").max(64))
      .max(32)
      .meta(setList)
      .optional(),
    clone: CloneSchema.describe("The template to clone the VM from.").meta({
      "x-kubernetes-validations": [
        { rule: "self == oldSelf", message: "clone cannot change once the VM exists" },
        {
          rule: "!has(self.datastoreId) || !has(self.full) || self.full",
          message: "clone.datastoreId needs a full clone: Proxmox refuses a target storage for linked clones",
        },
      ],
    }),
    cpu: CpuSchema.optional(),
    memory: MemorySchema.optional(),
    disks: z.array(DiskSchema).max(16).meta(listMap("interface")).optional(),
    networkDevices: z
      .array(NetworkDeviceSchema)
      .max(8)
      .meta(atomicList)
      .optional()
      .describe("Network devices in order (net0, net1, ...)."),
    initialization: InitializationSchema.optional(),
    agent: AgentSchema.optional(),
    started: z.boolean().optional().describe("Keep the VM running (provider default true)."),
    onBoot: z.boolean().optional().describe("Start the VM when its node boots."),
    protection: z.boolean().optional().describe("Proxmox deletion protection."),
    poolId: z.string().min(1).max(64).optional(),

    migrate: z
      .boolean()
      .default(false)
      .describe(
        "Let nodeName change: the VM is migrated to the new node (online while it runs, its local disks with it) instead of the change being refused. Needs VM.Migrate on /vms/{vmId}. Also moves back a VM someone migrated on Proxmox, where the replace guard would refuse.",
      ),
    deletionPolicy: z.enum(["Delete", "Orphan"]).default("Delete").describe("Delete the VM with the resource, or keep it (Orphan)."),
    allowReplacement: z
      .boolean()
      .default(false)
      .describe(
        "Let a change that Proxmox can only make by destroying and re-creating the VM (its disks included) go ahead. Default false: such a plan is refused and the VM is Stalled with reason ReplacementRequired, naming the attributes that force it.",
      ),
    approval: z.enum(["Auto", "Manual"]).default("Auto").describe("Manual: plans wait for approval before they apply."),
    driftDetection: DriftDetectionSchema.optional(),
    suspend: z.boolean().default(false).describe("Stop reconciling this VM until set back to false."),
    managementPolicy: z.enum(["Full", "ObserveOnly"]).default("Full").describe("ObserveOnly: read the VM, never change it."),
    writeOutputsTo: WriteOutputsToSchema.optional().describe(
      "Write the VM's id, node, name and addresses into a ConfigMap or Secret for other apps, after every successful run; the object is owned by the ProxmoxVM and deleted with it. Changing only this field starts no run: it takes effect with the VM's next run.",
    ),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!has(oldSelf.vmId) || (has(self.vmId) && self.vmId == oldSelf.vmId)",
        message: "vmId cannot change once set",
      },
      {
        rule: "self.nodeName == oldSelf.nodeName || (has(self.migrate) && self.migrate)",
        message: "nodeName can change only with migrate: true (the VM is then migrated to the new node)",
      },
    ],
  });

export type ProxmoxVMSpec = z.output<typeof ProxmoxVMSpecSchema>;
export type ProxmoxVMSpecInput = z.input<typeof ProxmoxVMSpecSchema>;
