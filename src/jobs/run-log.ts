import type { Logger } from "pino";
import type { RunEvent, RunStore } from "../store/run-store.js";

export interface RunLogLine {
  level: string;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

/**
 * The ordered log of one run: numbers each line, writes lines to PostgreSQL in batches (one
 * insert per flush, not per line), and hands each stored batch to the event stream (SSE) so live
 * viewers in other processes see it at once. `close` flushes what is left; a failed write is retried at the next
 * flush and reported by close(), never dropped silently.
 */
export class RunLog {
  private seq = 0;
  private pending: RunEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private lastError: unknown;

  constructor(
    private readonly runId: string,
    private readonly store: RunStore,
    private readonly logger: Logger,
    private readonly flushIntervalMs = 250,
    /** Also hands each stored batch to the event stream (SSE), after PostgreSQL has it. */
    private readonly onStored?: (batch: RunEvent[]) => Promise<void>,
  ) {}

  append(line: RunLogLine): void {
    this.pending.push({
      runId: this.runId,
      seq: ++this.seq,
      ts: new Date().toISOString(),
      level: line.level,
      type: line.type,
      message: line.message,
      data: line.data ?? null,
    });
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushIntervalMs);
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (batch.length === 0) return;
      this.pending = [];
      try {
        await this.store.appendEvents(batch);
        this.lastError = undefined;
      } catch (error) {
        this.pending = [...batch, ...this.pending];
        this.lastError = error;
        this.logger.warn({ err: error, runId: this.runId }, "could not store run log lines; will retry");
        return;
      }
      if (this.onStored) await this.onStored(batch).catch(() => undefined);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    if (this.pending.length > 0) await this.flush();
    if (this.pending.length > 0) throw new Error(`could not store ${this.pending.length} run log lines`, { cause: this.lastError });
  }
}
