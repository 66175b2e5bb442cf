import { z } from "zod";

const ConditionSchema = z.object({
  type: z.string().max(316),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().max(1024),
  message: z.string().max(32_768),
  lastTransitionTime: z.string().meta({ format: "date-time" }),
  observedGeneration: z.int().min(0).optional(),
});

/** A condition as the API stores it (strings); src/api/conditions.ts names the ones the operator writes. */
export type StatusCondition = z.infer<typeof ConditionSchema>;

/** A status's conditions: a list keyed by type (server-side apply merges by it). */
export const conditions = z
  .array(ConditionSchema)
  .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
  .optional();

/** What the operator writes to a ProxmoxVM's status subresource. */
export const ProxmoxVMStatusSchema = z.object({
  state: z.string().optional().describe("Short state for `kubectl get`: Pending, Provisioning, Running, Stopped, Failed, Deleting."),
  observedGeneration: z.int().min(0).optional(),
  conditions,
  vmId: z.int().optional(),
  node: z.string().optional(),
  ipAddresses: z.array(z.string()).meta({ "x-kubernetes-list-type": "atomic" }).optional(),
  specHash: z.string().optional().describe("Hash of the synthesized stack the last successful apply used."),
  observed: z
    .object({
      configDigest: z.string().describe("The digest Proxmox gives the VM's config file (GET .../qemu/{vmid}/config)."),
      node: z.string(),
      powerState: z.string().describe("running or stopped, as Proxmox reported it."),
      recordedAt: z.string().meta({ format: "date-time" }),
    })
    .optional()
    .describe("The VM as Proxmox held it right after the last successful run. A drift check whose digest, node and power state still match starts no tofu."),
  pendingApproval: z
    .object({
      hash: z.string().describe("The spec hash the plan was made for; approve it by writing it to the approve annotation."),
      runId: z.string(),
      add: z.int(),
      change: z.int(),
      destroy: z.int(),
    })
    .optional()
    .describe("A plan that waits for approval (spec.approval: Manual)."),
  pendingPlan: z
    .object({
      runId: z.string().describe("The run that made the plan; GET /api/v1/runs/{runId}/plan on the sidecar has the whole diff."),
      specHash: z.string(),
      approveWith: z
        .string()
        .describe("The approve annotation's value that applies this plan: the spec hash, or the run id when that hash was approved already (a plan made again after a stale or discarded one)."),
      summary: z.string().describe('tofu\'s counts, e.g. "0 to add, 1 to change, 0 to destroy".'),
      changes: z
        .array(z.string().max(200))
        .max(10)
        .meta({ "x-kubernetes-list-type": "atomic" })
        .describe('Up to 10 changed attributes, e.g. "memory.dedicated: 2048 → 3072" (secrets read "(sensitive)").'),
    })
    .optional()
    .describe("What the plan that waits for approval changes; approving applies exactly this plan."),
  lastRun: z
    .object({
      id: z.string(),
      action: z.enum(["plan", "apply", "destroy"]),
      result: z.string(),
      startedAt: z.string().meta({ format: "date-time" }).optional(),
      finishedAt: z.string().meta({ format: "date-time" }).optional(),
    })
    .optional(),
});
export type ProxmoxVMStatus = z.infer<typeof ProxmoxVMStatusSchema>;

const atomic = { "x-kubernetes-list-type": "atomic" } as const;

/** How many orphaned VMs a connection's status lists (the count covers all). */
export const MAX_LISTED_ORPHANS = 20;

/** What VMs on this connection can use, as the last check found it (compact: names and numbers). */
export const ConnectionInventorySchema = z.object({
  nodes: z
    .array(z.object({ name: z.string(), online: z.boolean(), cpus: z.int().optional(), memoryMiB: z.int().optional() }))
    .meta(atomic),
  storages: z
    .array(
      z.object({
        node: z.string(),
        id: z.string(),
        type: z.string(),
        content: z.array(z.string()).meta(atomic),
        availableMiB: z.int().optional(),
        active: z.boolean(),
      }),
    )
    .meta(atomic),
  bridges: z.array(z.object({ node: z.string(), name: z.string() })).meta(atomic),
  templates: z.array(z.object({ vmid: z.int(), name: z.string(), node: z.string() })).meta(atomic),
});
export type ConnectionInventory = z.infer<typeof ConnectionInventorySchema>;

export const ProxmoxConnectionStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions,
  version: z.string().optional().describe("Proxmox VE version the endpoint reports."),
  tokenId: z.string().optional().describe("The API token the connection authenticates with (user@realm!tokenid; never the secret)."),
  nodeCount: z.int().min(0).optional(),
  lastCheckTime: z.string().meta({ format: "date-time" }).optional(),
  inventory: ConnectionInventorySchema.optional(),
  missingPrivileges: z
    .record(z.string(), z.array(z.string()).meta({ "x-kubernetes-list-type": "atomic" }))
    .optional()
    .describe("ACL path → privileges the token lacks there (templates, datastores, bridges it cannot use)."),
  orphanedVmCount: z.int().min(0).optional().describe("VMs whose ownership tag names a ProxmoxVM this operator no longer sees (kept by deletionPolicy: Orphan, or left behind)."),
  orphanedVms: z
    .array(z.object({ vmid: z.int(), node: z.string(), name: z.string(), ownerUid: z.string() }))
    .max(MAX_LISTED_ORPHANS)
    .meta(atomic)
    .optional()
    .describe(`The first ${MAX_LISTED_ORPHANS} orphaned VMs by id. The operator never changes or deletes them: a person decides (delete one on Proxmox when it is not needed).`),
});
export type ProxmoxConnectionStatus = z.infer<typeof ProxmoxConnectionStatusSchema>;
