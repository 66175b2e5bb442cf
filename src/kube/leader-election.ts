import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
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
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly duration: number;
  private readonly renewMs: number;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;
  private onLost: (() => void) | undefined;
  readonly lost: Promise<void>;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.duration = options.leaseDurationSeconds ?? 15;
    this.renewMs = options.renewIntervalMs ?? 5000;
    this.lost = new Promise((resolve) => (this.onLost = resolve));
  }

  get isLeader(): boolean {
    return this.leading;
  }

  async acquire(): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
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
        lease.spec.holderIdentity = undefined;
        lease.spec.acquireTime = undefined;
        lease.spec.renewTime = undefined;
        await this.api.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
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

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.read();
    const spec = { holderIdentity: this.options.identity, leaseDurationSeconds: this.duration, renewTime: now };
    try {
      if (!lease) {
        await this.api.createNamespacedLease({
          namespace: this.options.namespace,
          body: { metadata: { name: this.options.name, namespace: this.options.namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } },
        });
        return true;
      }
      const holder = lease.spec?.holderIdentity;
      const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      const expired = renewed + (lease.spec?.leaseDurationSeconds ?? this.duration) * 1000 < now.getTime();
      if (holder && holder !== this.options.identity && !expired) return false;
      const takingOver = holder !== this.options.identity;
      lease.spec = {
        ...lease.spec,
        ...spec,
        acquireTime: takingOver ? now : lease.spec?.acquireTime,
        leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
      };
      await this.api.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
      return true;
    } catch (error) {
      // Someone else wrote the lease between our read and write: they won this round.
      if (isConflict(error)) return false;
      throw error;
    }
  }
}
