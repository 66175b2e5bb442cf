import { randomBytes } from "node:crypto";
import { CoreV1Api, type CoreV1Event, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FIELD_MANAGER } from "../api/group.js";

export type EventType = "Normal" | "Warning";

export interface EventRecorderOptions {
  /** Events waiting to be sent, over all objects; beyond it new events are dropped (and logged). */
  maxPending?: number;
  /** Events sent at once (never two of one object). */
  concurrency?: number;
}

/**
 * Records Kubernetes Events about an object. An event is a notification, not state: `record`
 * only queues it and returns, so a run or a reconcile never waits on the API server for one.
 * Events of one object are sent in the order recorded; a refused or dropped event is logged and
 * forgotten (status, not events, is what the operator relies on).
 */
export class EventRecorder {
  private readonly core: CoreV1Api;
  /** Per object (uid), events not yet sent, oldest first. */
  private readonly pending = new Map<string, CoreV1Event[]>();
  /** Objects with events and none in flight, in the order they became so. */
  private readonly ready: string[] = [];
  private readonly sending = new Set<string>();
  private pendingCount = 0;
  private dropped = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly maxPending: number;
  private readonly concurrency: number;

  constructor(
    kubeConfig: KubeConfig,
    private readonly logger: Logger,
    private readonly instance: string,
    options: EventRecorderOptions = {},
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.maxPending = options.maxPending ?? 1000;
    this.concurrency = options.concurrency ?? 4;
  }

  /** Queues the event; resolves at once (the promise is kept for callers that await it). */
  async record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const meta = obj.metadata!;
    if (this.pendingCount >= this.maxPending) {
      this.dropped++;
      // One line per hundred, not one per event, while the API server cannot keep up.
      if (this.dropped % 100 === 1) this.logger.warn({ reason, object: `${meta.namespace}/${meta.name}`, dropped: this.dropped }, "too many Kubernetes events waiting; dropping");
      return;
    }
    const owner = meta.uid ?? `${meta.namespace}/${meta.name}`;
    const queue = this.pending.get(owner);
    const event = this.eventOf(obj, type, reason, message);
    if (queue) queue.push(event);
    else {
      this.pending.set(owner, [event]);
      if (!this.sending.has(owner)) this.ready.push(owner);
    }
    this.pendingCount++;
    this.pump();
  }

  /**
   * Resolves once every queued event has been sent or refused (shutdown, tests), or after
   * `timeoutMs` when given (an unreachable API server must not hold up a shutdown).
   */
  flush(timeoutMs?: number): Promise<void> {
    if (this.pendingCount === 0 && this.sending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      if (timeoutMs !== undefined) setTimeout(resolve, timeoutMs).unref();
    });
  }

  private pump(): void {
    while (this.sending.size < this.concurrency && this.ready.length > 0) {
      const owner = this.ready.shift()!;
      const queue = this.pending.get(owner);
      const event = queue?.shift();
      if (!event) continue;
      if (queue!.length === 0) this.pending.delete(owner);
      this.sending.add(owner);
      void this.send(event).finally(() => {
        this.sending.delete(owner);
        this.pendingCount--;
        if (this.pending.has(owner)) this.ready.push(owner);
        this.pump();
        if (this.pendingCount === 0 && this.sending.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    }
  }

  private async send(event: CoreV1Event): Promise<void> {
    try {
      await this.core.createNamespacedEvent({ namespace: event.metadata.namespace!, body: event });
    } catch (error) {
      this.logger.warn({ err: error, reason: event.reason, object: `${event.involvedObject.namespace}/${event.involvedObject.name}` }, "could not record a Kubernetes event");
    }
  }

  /** Built when recorded, so its timestamps say when it happened, not when it was sent. */
  private eventOf(obj: KubernetesObject, type: EventType, reason: string, message: string): CoreV1Event {
    const meta = obj.metadata!;
    const now = new Date();
    return {
      metadata: { name: `${meta.name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`, namespace: meta.namespace! },
      involvedObject: {
        apiVersion: obj.apiVersion!,
        kind: obj.kind!,
        name: meta.name!,
        namespace: meta.namespace!,
        uid: meta.uid!,
        resourceVersion: meta.resourceVersion!,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: FIELD_MANAGER },
      reportingComponent: FIELD_MANAGER,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
  }
}
