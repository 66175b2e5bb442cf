import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { decodeEntry, type StreamEntry } from "./stream.js";
import { ZERO_ID } from "./stream-id.js";

export interface HubSubscriber {
  /**
   * Called for every entry in stream order; must not throw and must not block. `batch` numbers
   * the XREAD replies: entries of one batch are delivered in one go, and a new number means the
   * event loop ran (and sockets could flush) since the previous batch.
   */
  deliver(entry: StreamEntry, batch: number): void;
}

export interface HistoryPage {
  /** The entries this version understands, oldest first. */
  entries: StreamEntry[];
  /** How many entries were read (understood or not): fewer than asked means the end was reached. */
  read: number;
  /** The id of the last entry read. */
  lastId: string | undefined;
}

/** What an SSE connection needs from the stream: live entries, history and the resume check. */
export interface EventBackend {
  /** The id of the last entry handed to subscribers (or the stream's end when the hub started). */
  position(): string;
  subscribe(subscriber: HubSubscriber): void;
  unsubscribe(subscriber: HubSubscriber): void;
  /** Entries after `after` (exclusive), oldest first, at most `count` read. */
  range(after: string, count: number): Promise<HistoryPage>;
  /** Whether every entry after `lastId` is still in the stream (false: some were trimmed, or the id is not this stream's). */
  resumable(lastId: string): Promise<boolean>;
}

export interface EventHubOptions {
  /** A shared connection for XRANGE/XINFO/XREVRANGE. */
  redis: Redis;
  /** A connection of its own: XREAD BLOCK holds it. */
  blocking: Redis;
  key: string;
  logger: Logger;
  /** XREAD COUNT (default 1000). */
  batch?: number;
  /** XREAD BLOCK milliseconds (default 5000). */
  blockMs?: number;
}

/**
 * The one reader of the event stream in a sidecar process: a single XREAD BLOCK loop on a
 * dedicated connection that fans every entry out to the connected SSE clients. A thousand
 * clients cost one Redis connection, and each entry is decoded (and its SSE frame encoded) once.
 */
export class EventHub implements EventBackend {
  private readonly subscribers = new Set<HubSubscriber>();
  private last = ZERO_ID;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private started = false;
  private batch = 0;
  private failing = false;

  constructor(private readonly o: EventHubOptions) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** Started, not stopped, and its last read of the stream did not fail. */
  get healthy(): boolean {
    return this.started && !this.stopped && !this.failing;
  }

  /** Starts tailing at the stream's current end. */
  async start(): Promise<void> {
    const newest = (await this.o.redis.xrevrange(this.o.key, "+", "-", "COUNT", 1)) as [string, string[]][];
    this.last = newest[0]?.[0] ?? ZERO_ID;
    this.stopped = false;
    this.started = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.o.blocking.disconnect();
    await this.loop;
    this.subscribers.clear();
  }

  position(): string {
    return this.last;
  }

  subscribe(subscriber: HubSubscriber): void {
    this.subscribers.add(subscriber);
  }

  unsubscribe(subscriber: HubSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  async range(after: string, count: number): Promise<HistoryPage> {
    const raw = (await this.o.redis.xrange(this.o.key, `(${after}`, "+", "COUNT", count)) as [string, string[]][];
    const entries: StreamEntry[] = [];
    for (const [id, fields] of raw) {
      const entry = decodeEntry(id, fields);
      if (entry) entries.push(entry);
    }
    return { entries, read: raw.length, lastId: raw.at(-1)?.[0] };
  }

  async resumable(lastId: string): Promise<boolean> {
    if (lastId === ZERO_ID) {
      // "From the start": fine unless entries were trimmed already.
      const info = await this.streamInfo();
      return info === undefined || info["max-deleted-entry-id"] === ZERO_ID;
    }
    // An id that is still in the stream: nothing after it was trimmed (trimming starts at the head).
    const found = (await this.o.redis.xrange(this.o.key, lastId, lastId, "COUNT", 1)) as unknown[];
    return found.length === 1;
  }

  private async streamInfo(): Promise<Record<string, unknown> | undefined> {
    try {
      const flat = (await this.o.redis.call("XINFO", "STREAM", this.o.key)) as unknown[];
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
      return info;
    } catch (error) {
      if (/no such key/i.test(String((error as Error).message))) return undefined;
      throw error;
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.o.blocking.xread("COUNT", this.o.batch ?? 1000, "BLOCK", this.o.blockMs ?? 5000, "STREAMS", this.o.key, this.last)) as typeof reply;
        failures = 0;
        this.failing = false;
      } catch (error) {
        if (this.stopped) break;
        failures++;
        this.failing = true;
        const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        this.o.logger.warn({ err: error, retryInMs: delay }, "event stream read failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      if (reply) this.batch++;
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          this.last = id;
          const entry = decodeEntry(id, fields);
          if (!entry) continue;
          for (const subscriber of this.subscribers) {
            try {
              subscriber.deliver(entry, this.batch);
            } catch (error) {
              this.o.logger.warn({ err: error }, "an SSE subscriber failed");
              this.subscribers.delete(subscriber);
            }
          }
        }
      }
    }
  }
}
