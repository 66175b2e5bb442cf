import { jittered } from "./jitter.js";

/**
 * A keyed work queue in the spirit of client-go's workqueue: a key waiting is queued once, a key
 * is processed by one handler at a time (a key added while it is processed runs again after),
 * delayed adds keep the earliest due time, and failures back off per key.
 */
export interface WorkQueueOptions {
  concurrency: number;
  process: (key: string) => Promise<WorkResult>;
  onError?: (key: string, error: unknown) => void;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Backoffs are spread by up to this fraction (default 0.1) so failing keys do not retry in step. */
  backoffJitter?: number;
  /** Injectable for tests. */
  random?: () => number;
}

/** What a handler asks for: nothing more, or run again after a delay. */
export type WorkResult = { requeueAfterMs?: number } | void;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: WorkQueueOptions) {}

  add(key: string): void {
    if (this.stopped) return;
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) return this.add(key);
    const due = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.due <= due) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { due, timer });
  }

  get length(): number {
    return this.queue.length;
  }

  /** Stops taking work and waits for handlers in flight. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const result = await this.options.process(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (error) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.options.onError?.(key, error);
      const base = this.options.baseBackoffMs ?? 500;
      const max = this.options.maxBackoffMs ?? 60_000;
      this.addAfter(key, jittered(Math.min(max, base * 2 ** Math.min(n - 1, 16)), this.options.backoffJitter ?? 0.1, this.options.random));
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.running === 0 && this.stopped) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
