import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { keyOf, type ProxmoxVMObject } from "../kube/types.js";
import type { Run, RunEvent } from "../store/run-store.js";
import { encodeFields, type OutgoingEvent } from "./stream.js";
import { toLogEventView, toRunView, toVmView } from "./views.js";

export interface EventPublisherOptions {
  /** A shared, non-blocking connection (commands are pipelined, in call order). */
  redis: Redis;
  /** eventsStreamKey(prefix). */
  key: string;
  /** Approximate stream length kept (XADD MAXLEN ~). */
  maxLen: number;
  logger: Logger;
}

/**
 * Adds events to the deployment's event stream. Publishing never fails the caller: a run or a
 * reconcile does not stop because a viewer might miss a line (the lines are in PostgreSQL
 * anyway); failures are logged and counted.
 */
export class EventPublisher {
  /** The last VM view published per VM, so an update that changes nothing visible is not sent. */
  private readonly lastVm = new Map<string, string>();
  failures = 0;

  constructor(private readonly o: EventPublisherOptions) {}

  async publish(events: OutgoingEvent[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.o.redis.pipeline();
    for (const event of events) pipeline.xadd(this.o.key, "MAXLEN", "~", String(this.o.maxLen), "*", ...encodeFields(event));
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      this.failures++;
      this.o.logger.warn({ err: error, events: events.length }, "could not add events to the event stream");
    }
  }

  /** A ProxmoxVM was added, changed or deleted (from the leading controller's informer). */
  vmChanged(vm: ProxmoxVMObject, kind: "upsert" | "delete"): Promise<void> {
    const key = keyOf(vm);
    const view = toVmView(vm);
    if (kind === "delete") {
      this.lastVm.delete(key);
    } else {
      const json = JSON.stringify(view);
      if (this.lastVm.get(key) === json) return Promise.resolve();
      this.lastVm.set(key, json);
    }
    return this.publish([{ kind: "vm", namespace: view.namespace, name: view.name, data: { type: kind, vm: view } }]);
  }

  /** A run started or finished. */
  run(run: Run): Promise<void> {
    return this.publish([{ kind: "run", namespace: run.namespace, name: run.name, runId: run.id, data: toRunView(run) }]);
  }

  /** A batch of a run's log lines, just stored in PostgreSQL. */
  logs(vm: { namespace: string; name: string }, events: readonly RunEvent[]): Promise<void> {
    return this.publish(
      events.map((e) => ({ kind: "log", namespace: vm.namespace, name: vm.name, runId: e.runId, data: toLogEventView(e, vm) })),
    );
  }
}
