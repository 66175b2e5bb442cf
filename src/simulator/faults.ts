/**
 * Fault injection, set through PUT /_sim/faults (or the programmatic API): extra latency on
 * every /api2 request, a rate of HTTP 500 answers, a rate of failing tasks, and forced lock
 * timeouts (for listed VMs, or all). Rates are 0..1.
 */
import { z } from "zod";

export const faultsSchema = z
  .object({
    latencyMs: z.number().int().nonnegative(),
    http500Rate: z.number().min(0).max(1),
    taskFailureRate: z.number().min(0).max(1),
    lockTimeoutVmIds: z.array(z.number().int()),
    forceLockTimeout: z.boolean(),
  })
  .strict();

export type Faults = z.infer<typeof faultsSchema>;

export const NO_FAULTS: Faults = {
  latencyMs: 0,
  http500Rate: 0,
  taskFailureRate: 0,
  lockTimeoutVmIds: [],
  forceLockTimeout: false,
};

/** Merges a partial update (validated) into the current faults. */
export function updateFaults(current: Faults, update: unknown): Faults {
  const parsed = faultsSchema.partial().parse(update);
  return { ...current, ...parsed };
}

export function lockTimeoutForced(faults: Faults, vmid: number): boolean {
  return faults.forceLockTimeout || faults.lockTimeoutVmIds.includes(vmid);
}
