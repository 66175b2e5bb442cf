import { createHash } from "node:crypto";
import type { ProxmoxApiClient, VmResource } from "../proxmox/api-client.js";
import type { ResolvedConnection } from "./connection-resolver.js";
import type { ObservedConfig } from "./observed-config.js";

/** What a cheap look at Proxmox says about a VM since its last successful run. */
export type DriftVerdict =
  /** Same config digest, node and power state: nothing for tofu to find in the config file. */
  | { kind: "unchanged" }
  /** Something moved (`what` says it): plan to see what. */
  | { kind: "changed"; what: string }
  /** Proxmox could not answer: plan as a drift check always did. */
  | { kind: "unknown"; why: string };

export interface DriftProbeOptions {
  clientOf: (connection: ResolvedConnection) => ProxmoxApiClient;
  /** How long one `GET /cluster/resources?type=vm` answers for every VM of its connection. Default 30 s. */
  resourcesMaxAgeMs?: number;
  /** Config reads in flight at once per connection (the rate limit on Proxmox). Default 4. */
  configReadsAtOnce?: number;
  now?: () => number;
}

interface ResourceList {
  fetchedAt: number;
  byVmId: Promise<Map<number, VmResource>>;
}

/** The per-connection part: one shared resource list, and a limit on config reads. */
class ConnectionLook {
  private list: ResourceList | undefined;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly client: ProxmoxApiClient,
    private readonly maxAgeMs: number,
    private readonly readsAtOnce: number,
    private readonly now: () => number,
  ) {}

  /** The cluster's VMs, from a list no older than maxAge and made after `notBefore`. */
  resources(notBefore: number): Promise<Map<number, VmResource>> {
    const now = this.now();
    const list = this.list;
    if (list && now - list.fetchedAt < this.maxAgeMs && list.fetchedAt >= notBefore) return list.byVmId;
    const byVmId = this.client.vmResources().then((rows) => new Map(rows.map((r) => [r.vmId, r])));
    const fresh: ResourceList = { fetchedAt: now, byVmId };
    this.list = fresh;
    // A failed list is not kept: the next look asks again.
    byVmId.catch(() => {
      if (this.list === fresh) this.list = undefined;
    });
    return byVmId;
  }

  async limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.readsAtOnce) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await task();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  get configClient(): ProxmoxApiClient {
    return this.client;
  }
}

/**
 * Drift by config digest: Proxmox changes a VM's config digest whenever its config file changes,
 * so a VM whose digest, node and power state are those recorded after its last run has nothing in
 * its config for a plan to find. One resource list per connection answers node and power state for
 * all its VMs; one config read per VM (rate-limited) answers the digest. No tofu process.
 */
export class DigestDriftProbe {
  private readonly looks = new Map<string, ConnectionLook>();
  private readonly now: () => number;

  constructor(private readonly o: DriftProbeOptions) {
    this.now = o.now ?? Date.now;
  }

  async check(connection: ResolvedConnection, vmId: number, observed: ObservedConfig): Promise<DriftVerdict> {
    const look = this.lookOf(connection);
    try {
      const resources = await look.resources(Date.parse(observed.recordedAt) || 0);
      const row = resources.get(vmId);
      if (!row) return { kind: "changed", what: `VM ${vmId} is not in the cluster's resource list` };
      if (row.status === "unknown") return { kind: "unknown", why: `node ${row.node} does not answer` };
      if (row.node !== observed.node) return { kind: "changed", what: `VM ${vmId} moved from ${observed.node} to ${row.node}` };
      if (row.status !== observed.powerState) return { kind: "changed", what: `VM ${vmId} is ${row.status}, was ${observed.powerState}` };
      const config = await look.limited(() => look.configClient.vmConfig(row.node, vmId));
      if (!config) return { kind: "changed", what: `VM ${vmId} has no config on ${row.node}` };
      if (config.digest !== observed.configDigest) return { kind: "changed", what: `VM ${vmId}'s config changed on Proxmox` };
      return { kind: "unchanged" };
    } catch (error) {
      return { kind: "unknown", why: (error as Error).message };
    }
  }

  /** A connection that changed endpoint or token gets a look of its own (another token may audit other VMs). */
  private lookOf(connection: ResolvedConnection): ConnectionLook {
    const key = createHash("sha256").update(`${connection.spec.endpoint}\n${connection.apiToken}`).digest("hex");
    let look = this.looks.get(key);
    if (!look) {
      look = new ConnectionLook(this.o.clientOf(connection), this.o.resourcesMaxAgeMs ?? 30_000, this.o.configReadsAtOnce ?? 4, this.now);
      this.looks.set(key, look);
    }
    return look;
  }

  /** Looks whose connection is gone or rotated its token: called when a connection is forgotten. */
  clear(): void {
    this.looks.clear();
  }
}
