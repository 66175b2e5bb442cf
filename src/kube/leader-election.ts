import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { isConflict, isNotFound } from "./api-error.js";

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  leaseDurationSeconds?: number;
  renewIntervalMs?: number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease. `run` resolves when leadership is first
 * acquired; `lost` resolves if it is lost afterwards (the caller stops leading work: the owner
 * of the process decides whether to exit). Releases the lease on stop so a successor takes over
 * at once instead of waiting for it to expire.
 *
 * Leases are read and written as plain JSON through the generic object API: the typed client
 * serializes MicroTime fields (renewTime, acquireTime) with milliseconds, and the API server
 * accepts only microseconds.
 */
interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

const LEASES = { group: "coordination.k8s.io", version: "v1", plural: "leases" };

/** RFC 3339 with exactly six fractional digits, as metav1.MicroTime requires. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
export class LeaderElector {
  private readonly api: CustomObjectsApi;
  private readonly duration: number;
  private readonly renewMs: number;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private onLost: (() => void) | undefined;
  readonly lost: Promise<void>;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.duration = options.leaseDurationSeconds ?? 15;
    this.renewMs = options.renewIntervalMs ?? 5000;
    this.lost = new Promise((resolve) => (this.onLost = resolve));
  }

  get isLeader(): boolean {
    return this.leading;
  }

  async acquire(): Promise<void> {
    while (!this.stopped) {
      let acquired = false;
      try {
        acquired = await this.tryAcquireOrRenew();
      } catch (error) {
        this.options.logger.warn({ err: error, lease: this.options.name }, "could not read or write the leader lease; retrying");
      }
      if (acquired) {
        this.leading = true;
        this.options.logger.info({ lease: this.options.name, identity: this.options.identity }, "became leader");
        this.scheduleRenew();
        return;
      }
      await new Promise((r) => setTimeout(r, this.renewMs));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.options.identity) {
        lease.spec = { ...lease.spec, holderIdentity: null, acquireTime: null, renewTime: null };
        await this.replace(lease);
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not release the leader lease; it expires on its own");
    }
  }

  private scheduleRenew(): void {
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      let renewed = false;
      try {
        renewed = await this.tryAcquireOrRenew();
      } catch (error) {
        this.options.logger.warn({ err: error }, "lease renewal failed");
      }
      if (!renewed && !this.stopped) {
        this.leading = false;
        this.options.logger.error({ lease: this.options.name }, "lost leadership");
        this.onLost?.();
        return;
      }
      this.scheduleRenew();
    }, this.renewMs);
  }

  private ref() {
    return { ...LEASES, namespace: this.options.namespace, name: this.options.name };
  }

  private async replace(lease: Lease): Promise<void> {
    await this.api.replaceNamespacedCustomObject({ ...this.ref(), body: lease });
  }

  private async read(): Promise<Lease | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject(this.ref())) as Lease;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.read();
    const spec: LeaseSpec = { holderIdentity: this.options.identity, leaseDurationSeconds: this.duration, renewTime: microTime(now) };
    try {
      if (!lease) {
        await this.api.createNamespacedCustomObject({
          ...LEASES,
          namespace: this.options.namespace,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.options.name, namespace: this.options.namespace },
            spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      }
      const holder = lease.spec?.holderIdentity;
      const renewed = lease.spec?.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const expired = renewed + (lease.spec?.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
      if (holder && holder !== this.options.identity && !expired) return false;
      const takingOver = holder !== this.options.identity;
      lease.spec = {
        ...lease.spec,
        ...spec,
        acquireTime: takingOver ? microTime(now) : (lease.spec?.acquireTime ?? microTime(now)),
        leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
      };
      await this.replace(lease);
      return true;
    } catch (error) {
      // Someone else wrote the lease between our read and write: they won this round.
      if (isConflict(error)) return false;
      throw error;
    }
  }
}
