import type { Logger } from "pino";
import { ConditionType, Reason } from "../api/conditions.js";
import { MAX_LISTED_ORPHANS, type ProxmoxConnectionStatus } from "../api/status.js";
import { isNotFound } from "../kube/api-error.js";
import { findCondition, setCondition } from "../kube/conditions.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import type { StatusWriter } from "../kube/status-writer.js";
import { parseKey, type ProxmoxConnectionObject } from "../kube/types.js";
import { ProxmoxApiClient } from "../proxmox/api-client.js";
import { checkConnection, connectionProblemOf, get, type ConnectionHealth } from "../proxmox/connection-check.js";
import { ConnectionProblem, type ConnectionResolver } from "../vm/connection-resolver.js";
import { orphanedVms, type OrphanedVm, type TaggedGuest } from "../vm/orphans.js";
import type { GuestInfo } from "../vm/preflight.js";
import type { Metrics } from "../telemetry/metrics.js";
import { jittered } from "./jitter.js";
import type { WorkResult } from "./work-queue.js";

export interface ConnectionReconcilerDeps {
  connections: CustomObjects<ProxmoxConnectionObject>;
  status: StatusWriter<ProxmoxConnectionStatus, ProxmoxConnectionObject>;
  resolver: ConnectionResolver;
  events: EventRecorder;
  logger: Logger;
  /** How often a Ready connection is checked again. */
  readyIntervalMs?: number;
  /** How often a connection that is not Ready is checked again (a fixed Secret is seen this soon). */
  notReadyIntervalMs?: number;
  /** The uids of the ProxmoxVMs the operator sees; undefined until its cache is filled (then no orphans are reported). */
  ownedUids?: () => ReadonlySet<string> | undefined;
  metrics?: Pick<Metrics, "setOrphanedVms">;
}

interface Checked {
  at: number;
  generation: number;
  guests: Map<number, GuestInfo>;
}

/**
 * Checks each ProxmoxConnection (at start, on spec changes, every few minutes, sooner while it is
 * not Ready, and when a VM asks): the version, the token's privileges, and the inventory VMs are
 * preflighted against. Writes the connection's status and an Event on each Ready transition.
 * Keeps the full guest list in memory only (it can be 10,000 entries: not status material).
 */
export class ConnectionReconciler {
  private readonly checked = new Map<string, Checked>();
  private readonly inFlight = new Map<string, Promise<boolean | undefined>>();

  constructor(private readonly d: ConnectionReconcilerDeps) {}

  async reconcile(key: string): Promise<WorkResult> {
    const ready = await this.checkNow(key);
    if (ready === undefined) return;
    const readyInterval = this.d.readyIntervalMs ?? 300_000;
    // Never look at a broken connection less often than at a working one.
    return { requeueAfterMs: jittered(ready ? readyInterval : Math.min(this.d.notReadyIntervalMs ?? 15_000, readyInterval)) };
  }

  /** The guests the last check listed, by id; undefined before a check. */
  guestsOf(key: string): ReadonlyMap<number, GuestInfo> | undefined {
    return this.checked.get(key)?.guests;
  }

  /** When the connection was last checked (epoch ms), if it was. */
  lastCheckOf(key: string): number | undefined {
    return this.checked.get(key)?.at;
  }

  /**
   * Checks now unless a check is under way (then waits for it) or one finished less than
   * `maxAgeMs` ago: a preflight miss refreshes the inventory, a run's auth failure re-checks.
   */
  async refresh(key: string, maxAgeMs: number): Promise<void> {
    const last = this.checked.get(key)?.at ?? 0;
    if (Date.now() - last < maxAgeMs) return;
    await this.checkNow(key);
  }

  /** Whether the connection is Ready after the check; undefined when it is gone. */
  private checkNow(key: string): Promise<boolean | undefined> {
    let running = this.inFlight.get(key);
    if (!running) {
      running = this.check(key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, running);
    }
    return running;
  }

  private async check(key: string): Promise<boolean | undefined> {
    const { namespace, name } = parseKey(key);
    let connection: ProxmoxConnectionObject;
    try {
      connection = await this.d.connections.get(namespace, name);
    } catch (error) {
      if (isNotFound(error)) {
        this.checked.delete(key);
        return undefined;
      }
      throw error;
    }
    const generation = connection.metadata.generation ?? 0;
    const guests = new Map<number, GuestInfo>();
    const tagged: TaggedGuest[] = [];
    let health: ConnectionHealth;
    let tokenId: string | undefined;
    try {
      const resolved = await this.d.resolver.resolve(namespace, name);
      tokenId = resolved.apiToken.slice(0, resolved.apiToken.indexOf("="));
      const client = new ProxmoxApiClient({
        endpoint: resolved.spec.endpoint,
        apiToken: resolved.apiToken,
        insecureSkipTLSVerify: resolved.spec.insecureSkipTLSVerify,
        ...(resolved.caBundle ? { caBundle: resolved.caBundle } : {}),
        timeoutMs: 10_000,
      });
      health = await checkConnection(client, resolved.spec.endpoint, tokenId);
      if (health.inventory) await this.listGuests(client, guests, tagged);
    } catch (error) {
      health = this.failedCheck(error, connection);
      const ready = findCondition(connection.status?.conditions, ConditionType.Ready);
      if (health.reason === Reason.Unreachable && !connectionProblemOf(error, connection.spec.endpoint) && ready?.status === "True" && ready.observedGeneration === generation) {
        // A server error mid-check (not a refused token, not an unreachable host) says nothing new
        // about a connection that was fine: keep its verdict and inventory; the next check decides.
        this.d.logger.warn({ err: error, connection: key }, "connection check interrupted; keeping the last result");
        return true;
      }
    }
    this.checked.set(key, { at: Date.now(), generation, guests });
    const owned = health.inventory ? this.d.ownedUids?.() : undefined;
    await this.writeStatus(connection, health, tokenId, owned && orphanedVms(tagged, owned));
    return health.ready;
  }

  private async listGuests(client: ProxmoxApiClient, into: Map<number, GuestInfo>, tagged: TaggedGuest[]): Promise<void> {
    const resources = ((await get(client, "cluster/resources?type=vm")) as { vmid?: number; node?: string; name?: string; template?: number; tags?: string }[] | null) ?? [];
    for (const r of resources) {
      if (r.vmid === undefined) continue;
      into.set(r.vmid, { vmid: r.vmid, node: r.node ?? "", name: r.name ?? "", template: r.template === 1 });
      if (r.tags && r.template !== 1) tagged.push({ vmid: r.vmid, node: r.node ?? "", name: r.name ?? "", tags: r.tags });
    }
  }

  private failedCheck(error: unknown, connection: ProxmoxConnectionObject): ConnectionHealth {
    if (error instanceof ConnectionProblem) return { ready: false, reason: error.reason, message: error.message, missing: {} };
    const problem = connectionProblemOf(error, connection.spec.endpoint);
    if (problem) return { ready: false, ...problem, missing: {} };
    const message = error instanceof Error ? error.message : String(error);
    this.d.logger.warn({ err: error, connection: connection.metadata.name }, "connection check failed");
    return { ready: false, reason: Reason.Unreachable, message: `the connection check failed: ${message}`, missing: {} };
  }

  private async writeStatus(connection: ProxmoxConnectionObject, health: ConnectionHealth, tokenId: string | undefined, orphans: OrphanedVm[] | undefined): Promise<void> {
    const { namespace, name, uid } = connection.metadata;
    const orphansBefore = connection.status?.orphanedVmCount ?? 0;
    const generation = connection.metadata.generation ?? 0;
    const before = findCondition(connection.status?.conditions, ConditionType.Ready);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    await this.d.status.update(
      namespace,
      name,
      (s) => ({
        ...s,
        observedGeneration: generation,
        lastCheckTime: now,
        ...(health.version ? { version: health.version } : {}),
        ...(tokenId ? { tokenId } : {}),
        ...(health.inventory ? { inventory: health.inventory, nodeCount: health.inventory.nodes.length } : {}),
        missingPrivileges: Object.keys(health.missing).length ? health.missing : undefined,
        ...(orphans ? { orphanedVmCount: orphans.length, orphanedVms: orphans.length ? orphans.slice(0, MAX_LISTED_ORPHANS) : undefined } : {}),
        conditions: setCondition(s.conditions, {
          type: ConditionType.Ready,
          status: health.ready ? "True" : "False",
          reason: health.reason,
          message: health.message,
          observedGeneration: generation,
        }),
      }),
      uid,
    );
    if (orphans) {
      this.d.metrics?.setOrphanedVms(namespace, name, orphans.length);
      if (orphans.length > orphansBefore) {
        const listed = orphans.slice(0, 5).map((o) => `${o.vmid} (${o.name}) on ${o.node}`).join(", ");
        await this.d.events.record(connection, "Warning", "OrphanedVMs", `${orphans.length} VM(s) carry the ownership tag of a ProxmoxVM that no longer exists: ${listed}${orphans.length > 5 ? ", …" : ""}. The operator leaves them alone; see status.orphanedVms`);
      }
    }
    if (before?.status !== (health.ready ? "True" : "False") || before?.reason !== health.reason) {
      await this.d.events.record(connection, health.ready ? "Normal" : "Warning", health.reason, health.message);
      this.d.logger.info({ connection: `${namespace}/${name}`, ready: health.ready, reason: health.reason }, "connection health changed");
    }
  }
}
