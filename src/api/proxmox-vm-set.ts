import { z } from "zod";
import { conditions } from "./status.js";
import { API_GROUP } from "./group.js";
import { ProxmoxVMSpecSchema } from "./proxmox-vm.js";

/**
 * ProxmoxVMSet: `replicas` ProxmoxVMs made from one template, named by ordinal, spread over
 * nodes, optionally with static IPv4 addresses from a range. The set owns its VMs; see
 * src/controller/vm-set-reconciler.ts for what it does and docs/vmset.md for how to use it.
 */

export const PROXMOX_VM_SET = { kind: "ProxmoxVMSet", plural: "proxmoxvmsets", singular: "proxmoxvmset", shortNames: ["pvms"] } as const;

/** Labels the set puts on each of its VMs: the scale subresource's selector uses the first. */
export const VM_SET_LABEL = `${API_GROUP}/vm-set`;
export const VM_SET_ORDINAL_LABEL = `${API_GROUP}/vm-set-ordinal`;
/** Hash of what the set wants a VM to be; a VM whose annotation differs is not updated yet. */
export const VM_SET_HASH_ANNOTATION = `${API_GROUP}/vm-set-hash`;
export const VM_SET_FINALIZER = `${API_GROUP}/vm-set`;

const ipv4 = z.string().regex(/^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/, "must be an IPv4 address");

const nodeName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, "must be a Proxmox node name such as pve1");

export const Ipv4PoolSchema = z
  .object({
    start: ipv4.describe("The address of ordinal 0; ordinal N gets start + N."),
    end: ipv4.optional().describe("The last address the pool may give (inclusive)."),
    count: z.int().min(1).max(65_536).optional().describe("How many addresses the pool holds, from start."),
    prefix: z.int().min(1).max(32).describe("Prefix length of every address, e.g. 24."),
    gateway: ipv4.optional().describe("Gateway written with every address."),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [{ rule: "has(self.end) != has(self.count)", message: "ipv4Pool needs exactly one of end and count" }],
  });

/** A ProxmoxVM spec without nodeName being required: the set's `nodes` may choose it. */
const TemplateVmSpecSchema = ProxmoxVMSpecSchema.partial({ nodeName: true }).meta({
  "x-kubernetes-validations": [
    { rule: "!has(self.vmId)", message: "template.spec.vmId cannot be set: each VM of the set gets its own id" },
    { rule: "!has(self.name)", message: "template.spec.name cannot be set: VMs are named by the set's namePattern" },
    {
      rule: "!has(self.writeOutputsTo)",
      message: "template.spec.writeOutputsTo cannot be set: VMs of a set would write to the same object",
    },
  ],
});

export const ProxmoxVMSetSpecSchema = z
  .object({
    replicas: z.int().min(0).max(1000).default(1).describe("How many VMs the set keeps (kubectl scale and the HorizontalPodAutoscaler change it)."),
    namePattern: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-z0-9{]([-a-z0-9{}]*[a-z0-9}])?$/, "must be a DNS label with the placeholders {set} and {ordinal}")
      .default("{set}-{ordinal}")
      .describe("Name of each VM (the ProxmoxVM and, unless changed, the Proxmox VM name): {set} is the set's name, {ordinal} the VM's number from 0."),
    nodes: z
      .array(nodeName)
      .min(1)
      .max(64)
      .meta({ "x-kubernetes-list-type": "atomic" })
      .optional()
      .describe("Spread the VMs over these nodes, round robin by ordinal (ordinal N on nodes[N mod len]); otherwise every VM uses template.spec.nodeName."),
    ipv4Pool: Ipv4PoolSchema.optional().describe("Static IPv4 addresses by ordinal, written to the first ipConfig of each VM; without it the template's ipConfigs (e.g. dhcp) are used as they are."),
    maxUnavailable: z
      .int()
      .min(1)
      .max(1000)
      .default(1)
      .describe("How many VMs a template change may have un-ready at a time: VMs are changed one batch at a time, each waiting for the last to be Ready."),
    template: z
      .object({
        metadata: z
          .object({
            labels: z.record(z.string(), z.string()).optional(),
            annotations: z.record(z.string(), z.string()).optional(),
          })
          .strict()
          .optional(),
        spec: TemplateVmSpecSchema,
      })
      .strict()
      .describe("What each VM is: labels and annotations, and a ProxmoxVM spec."),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.namePattern.contains('{ordinal}')", message: "namePattern must contain {ordinal}, or the VMs would share one name" },
      { rule: "has(self.nodes) || has(self.template.spec.nodeName)", message: "give nodes or template.spec.nodeName" },
    ],
  })
  .describe("replicas ProxmoxVMs made from one template, named by ordinal, spread over nodes, with addresses from a pool; the set owns them, rolls template changes maxUnavailable at a time and deletes them with itself (docs/vmset.md).");

export type ProxmoxVMSetSpec = z.output<typeof ProxmoxVMSetSpecSchema>;
export type ProxmoxVMSetSpecInput = z.input<typeof ProxmoxVMSetSpecSchema>;

export const ProxmoxVMSetStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  replicas: z.int().min(0).optional().describe("VMs the set has now (not being deleted)."),
  readyReplicas: z.int().min(0).optional().describe("Of those, the ones Ready for their current spec."),
  updatedReplicas: z.int().min(0).optional().describe("Of those, the ones that match the set's current template."),
  selector: z.string().optional().describe("Label selector of the set's VMs (for the scale subresource)."),
  conditions,
});
export type ProxmoxVMSetStatus = z.infer<typeof ProxmoxVMSetStatusSchema>;
