import { ConditionType, Reason } from "../api/conditions.js";
import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import { findCondition } from "../kube/conditions.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { ConnectionResolver, ResolvedConnection } from "../vm/connection-resolver.js";
import { preflight, type GuestInfo, type PreflightIssue } from "../vm/preflight.js";

/** Whether a run may be queued for a VM now. */
export type Gate =
  | { kind: "open" }
  /** Clears by itself (the connection becomes Ready, a node comes back): look again later. */
  | { kind: "wait"; reason: Reason; message: string; requeueAfterMs: number }
  /** Only a change of the spec or of Proxmox helps; re-checked when either changes. */
  | { kind: "closed"; reason: Reason; message: string };

/** What the gate needs of the connection checks (ConnectionReconciler). */
export interface ConnectionHealthSource {
  guestsOf(key: string): ReadonlyMap<number, GuestInfo> | undefined;
  lastCheckOf(key: string): number | undefined;
  refresh(key: string, maxAgeMs: number): Promise<void>;
}

/**
 * Reasons a run gives when the connection itself failed it (or a node it names did not answer):
 * a re-check of the connection is due, and what it finds decides whether the VM runs or waits.
 */
export const CONNECTION_FAILURES: ReadonlySet<string> = new Set<string>([Reason.AuthenticationFailed, Reason.PermissionDenied, Reason.Unreachable, Reason.TLSError, Reason.NodeOffline]);
/** A preflight miss refreshes the inventory at most this often per connection. */
const REFRESH_AFTER_MS = 10_000;
const WAIT_MS = 15_000;

/**
 * The controller's last word before it queues a run: the VM's connection is Ready (checked for
 * its current generation), and the spec passes preflight against the connection's inventory.
 * Nothing is allocated or created on Proxmox for a VM the gate holds back.
 */
export class RunGate {
  /**
   * VM uid → the reason and message the gate last held it back with. A VM's Ready condition that
   * says exactly that is the gate's own word (a preflight PermissionDenied, a node offline), not a
   * run's failure, and must not make the gate re-check the connection as if a run had failed.
   */
  private readonly heldBack = new Map<string, string>();

  constructor(
    private readonly health: ConnectionHealthSource,
    private readonly connections: ConnectionResolver,
  ) {}

  async check(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection): Promise<Gate> {
    const gate = await this.decide(vm, spec, connection);
    if (gate.kind === "open") this.heldBack.delete(vm.metadata.uid);
    else this.heldBack.set(vm.metadata.uid, verdictOf(gate.reason, gate.message));
    return gate;
  }

  private async decide(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection): Promise<Gate> {
    const key = `${vm.metadata.namespace}/${connection.name}`;
    const recheck = this.connectionFailureSinceCheck(vm, key);
    if (recheck) {
      // A run met an auth or network failure after the last check: check again before any retry.
      await this.health.refresh(key, REFRESH_AFTER_MS);
      // The kept token may be the one that failed (a Secret rotated in place): read it again.
      this.connections.forget(vm.metadata.namespace, connection.name);
      connection = await this.connections.resolve(vm.metadata.namespace, connection.name);
    }
    const notReady = connectionNotReady(connection);
    if (notReady) return { kind: "wait", reason: Reason.ConnectionNotReady, message: notReady, requeueAfterMs: WAIT_MS };
    if (recheck && (this.health.lastCheckOf(key) ?? 0) < recheck) return { kind: "wait", reason: Reason.ConnectionNotReady, message: `re-checking ProxmoxConnection ${connection.name}`, requeueAfterMs: WAIT_MS };

    let issues = this.preflight(vm, spec, connection, key);
    if (issues.length > 0 && Date.now() - (this.health.lastCheckOf(key) ?? 0) >= REFRESH_AFTER_MS) {
      // The inventory may be older than the fix (a template just made): look once more, afresh.
      await this.health.refresh(key, REFRESH_AFTER_MS);
      issues = this.preflight(vm, spec, await this.connections.resolve(vm.metadata.namespace, connection.name), key);
    }
    if (issues.length === 0) return { kind: "open" };
    const message = issues.map((i) => i.message).join("; ");
    const first = issues[0]!;
    if (issues.every((i) => i.waits)) return { kind: "wait", reason: first.reason, message, requeueAfterMs: WAIT_MS };
    return { kind: "closed", reason: issues.find((i) => !i.waits)!.reason, message };
  }

  private preflight(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection, key: string): PreflightIssue[] {
    const inventory = connection.status?.inventory;
    if (!inventory) return [];
    const guests = this.health.guestsOf(key);
    return preflight({
      spec,
      inventory,
      missingPrivileges: connection.status?.missingPrivileges ?? {},
      ...(guests ? { guests } : {}),
      pinnedVmId: vm.status?.vmId,
    });
  }

  /** When the VM's last failure was the connection's and came after the last check: its time. */
  private connectionFailureSinceCheck(vm: ProxmoxVMObject, key: string): number | undefined {
    const ready = findCondition(vm.status?.conditions, ConditionType.Ready);
    if (ready?.status !== "False" || !CONNECTION_FAILURES.has(ready.reason)) return undefined;
    if (this.heldBack.get(vm.metadata.uid) === verdictOf(ready.reason, ready.message)) return undefined;
    const failedAt = Date.parse(ready.lastTransitionTime);
    return failedAt >= (this.health.lastCheckOf(key) ?? 0) - 1000 ? failedAt : undefined;
  }
}

function verdictOf(reason: string, message: string): string {
  return `${reason}\n${message}`;
}

/** Why the connection cannot be used yet, or undefined when it is Ready for its current spec. */
export function connectionNotReady(connection: ResolvedConnection): string | undefined {
  const ready = findCondition(connection.status?.conditions, ConditionType.Ready);
  if (!ready || ready.observedGeneration !== connection.generation) return `waiting for the check of ProxmoxConnection ${connection.name}`;
  if (ready.status !== "True") return `ProxmoxConnection ${connection.name} is not ready (${ready.reason}): ${ready.message}`;
  return undefined;
}
