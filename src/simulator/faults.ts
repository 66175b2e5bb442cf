/**
 * Fault injection, set through PUT /_sim/faults (or the programmatic API): extra latency on
 * every /api2 request, a rate of HTTP 500 answers, a rate of failing tasks, and forced lock
 * timeouts (for listed VMs, or all). Rates are 0..1. Every fault that fires is counted
 * (GET /_sim/injected-faults), so tests can show the fault they set really happened.
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

/**
 * How often each fault fired. A test that turns a fault on asserts its count, so a fault that
 * silently stopped firing fails the test instead of letting it pass for the wrong reason.
 */
export interface InjectedFaultCounts {
  /** Requests held back by `latencyMs`. */
  delayedRequests: number;
  /** Requests answered HTTP 500 by `http500Rate`. */
  http500: number;
  /** Tasks failed by `taskFailureRate`. */
  failedTasks: number;
  /** Lock acquisitions refused by `lockTimeoutVmIds` / `forceLockTimeout`. */
  lockTimeouts: number;
}

export type InjectedFault = keyof InjectedFaultCounts;

const noInjectedFaults = (): InjectedFaultCounts => ({ delayedRequests: 0, http500: 0, failedTasks: 0, lockTimeouts: 0 });

export class InjectedFaultTally {
  private counts = noInjectedFaults();

  record(fault: InjectedFault): void {
    this.counts[fault]++;
  }

  snapshot(): InjectedFaultCounts {
    return { ...this.counts };
  }

  reset(): void {
    this.counts = noInjectedFaults();
  }
}
