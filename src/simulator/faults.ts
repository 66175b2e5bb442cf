/**
 * Fault injection, set through PUT /_sim/faults (or the programmatic API): extra latency on
 * every /api2 request, a rate of HTTP 500 answers, a rate of failing tasks, forced lock
 * timeouts (for listed VMs, or all), and a connection reset of the Nth request to one route.
 * Rates are 0..1. Every fault that fires is counted (GET /_sim/injected-faults), so tests can
 * show the fault they set really happened.
 */
import { z } from "zod";

export const faultsSchema = z
  .object({
    latencyMs: z.number().int().nonnegative(),
    http500Rate: z.number().min(0).max(1),
    taskFailureRate: z.number().min(0).max(1),
    lockTimeoutVmIds: z.array(z.number().int()),
    forceLockTimeout: z.boolean(),
    resetConnection: z
      .object({
        method: z.enum(["GET", "POST", "PUT", "DELETE"]),
        /** A route template as the router knows it, e.g. /nodes/{node}/qemu/{vmid}/clone. */
        route: z.string().startsWith("/"),
        /** The Nth matching request (counted from when the rule was set) loses its connection. */
        nth: z.number().int().min(1),
        /**
         * true: the request is carried out and the socket is destroyed instead of answering (the
         * client cannot tell whether it happened: a clone runs on without it knowing the task);
         * false: the socket is destroyed before the request is looked at.
         */
        afterHandling: z.boolean(),
      })
      .strict()
      .nullable(),
  })
  .strict();

export type Faults = z.infer<typeof faultsSchema>;

export const NO_FAULTS: Faults = {
  latencyMs: 0,
  http500Rate: 0,
  taskFailureRate: 0,
  lockTimeoutVmIds: [],
  forceLockTimeout: false,
  resetConnection: null,
};

/** Merges a partial update (validated) into the current faults. */
export function updateFaults(current: Faults, update: unknown): Faults {
  const parsed = faultsSchema.partial().parse(update);
  return { ...current, ...parsed };
}

type ResetRule = NonNullable<Faults["resetConnection"]>;

/** Matching requests seen per rule object (a new PUT of the rule starts counting again). */
const resetRuleMatches = new WeakMap<ResetRule, number>();

/**
 * Whether this request's connection is to be reset now: it matches the rule's method, route and
 * phase and is the rule's Nth match. Fires once per rule.
 */
export function connectionResetDue(faults: Faults, method: string, route: string, afterHandling: boolean): boolean {
  const rule = faults.resetConnection;
  if (!rule || rule.method !== method || rule.route !== route || rule.afterHandling !== afterHandling) return false;
  const seen = (resetRuleMatches.get(rule) ?? 0) + 1;
  resetRuleMatches.set(rule, seen);
  return seen === rule.nth;
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
  /** Connections destroyed by `resetConnection`. */
  connectionResets: number;
}

export type InjectedFault = keyof InjectedFaultCounts;

const noInjectedFaults = (): InjectedFaultCounts => ({ delayedRequests: 0, http500: 0, failedTasks: 0, lockTimeouts: 0, connectionResets: 0 });

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
