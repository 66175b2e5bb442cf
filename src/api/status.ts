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

const conditions = z
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

export const ProxmoxConnectionStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions,
});
export type ProxmoxConnectionStatus = z.infer<typeof ProxmoxConnectionStatusSchema>;
