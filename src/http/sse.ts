import type { EventBackend, HubSubscriber } from "../events/hub.js";
import { matchesFilter, type EventFilter } from "../events/filter.js";
import type { StreamEntry } from "../events/stream.js";
import { compareStreamIds } from "../events/stream-id.js";

/**
 * Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 * Data may span lines: each line becomes its own `data:` field. Ids and event names must not
 * contain line breaks (ours never do; a violation is a bug, so it throws).
 */
export function formatEvent(event: { id?: string; event?: string; data: string }): string {
  let out = "";
  if (event.id !== undefined) out += `id: ${field(event.id)}\n`;
  if (event.event !== undefined) out += `event: ${field(event.event)}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** A comment line: ignored by EventSource, keeps proxies and the connection alive. */
export function formatComment(text: string): string {
  return `: ${field(text)}\n\n`;
}

export function formatRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/**
 * An `id:` field with no data: EventSource takes it as its last event id without dispatching an
 * event. Used to move a client's resume point past entries it did not want (filtered out), and
 * to give a fresh client a resume point before its first event.
 */
export function formatIdOnly(id: string): string {
  return `id: ${field(id)}\n\n`;
}

function field(value: string): string {
  if (/[\r\n]/.test(value)) throw new Error("an SSE field must not contain a line break");
  return value;
}

/** The frame of a stream entry, encoded once and shared by every connection that sends it. */
export function frameOf(entry: StreamEntry): Buffer {
  return (entry.frame ??= Buffer.from(formatEvent({ id: entry.id, event: entry.kind, data: entry.data })));
}

/** The part of an http.ServerResponse an SSE connection uses (tests pass a fake). */
export interface SseSink {
  write(chunk: string | Buffer): boolean;
  end(): void;
  destroy(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  on(event: "close", listener: () => void): unknown;
  removeListener(event: "drain" | "close", listener: () => void): unknown;
}

export interface SseConnectionOptions {
  /** The `retry:` hint, milliseconds. */
  retryMs: number;
  /**
   * A live client that still has more than this many bytes queued when the next batch of events
   * arrives (or at a heartbeat) is disconnected; it resumes with Last-Event-ID.
   */
  maxBufferedBytes: number;
  /** Entries read per XRANGE while catching up (default 500). */
  historyBatch?: number;
  /** Live entries kept while catching up before giving up on them and re-reading the stream (default 10,000). */
  catchUpBuffer?: number;
  /** How long a closed slow client may take to take its last bytes before the socket is destroyed (default 10 s). */
  closeGraceMs?: number;
  /** A client catching up that takes no bytes for this long is closed like a slow live client (default 60 s). */
  stallTimeoutMs?: number;
  /**
   * The stream ends after about this long (up to a tenth less, so streams opened together do
   * not all reconnect at once); the client resumes with Last-Event-ID. Unset: no limit.
   */
  maxLifetimeMs?: number;
  onClose?: (connection: SseConnection) => void;
  onSlow?: (connection: SseConnection) => void;
}

export const SLOW_CLIENT_NOTE = "closing: this connection reads too slowly; reconnect with Last-Event-ID to resume";
export const LIFETIME_NOTE = "closing: this stream reached its maximum lifetime; reconnect with Last-Event-ID to resume";

/**
 * One SSE client. `open` sends the `retry:` hint, then either starts live at the stream's end
 * (no Last-Event-ID), or sends what the client missed (history after its Last-Event-ID, read
 * with XRANGE) and then continues live, or, when its id is no longer in the stream, sends a
 * `reset` event and continues live.
 *
 * Exactly once, in order: the connection subscribes to the hub *before* it reads history, keeps
 * what the hub delivers meanwhile, and afterwards sends only entries newer than the last one it
 * processed (`cursor`). Every entry after the client's id is either in the stream when history is
 * read, or delivered by the hub after the subscription.
 *
 * Bounded memory: while catching up, history is written at the client's pace (waiting for
 * 'drain') and at most `catchUpBuffer` live entries are kept (beyond that they are dropped and
 * read again from the stream). Once live, events are written as they come; a burst (one hub
 * batch) may queue more than `maxBufferedBytes` for a moment, as the socket can only flush when
 * the event loop runs. A client that still has more than `maxBufferedBytes` queued when the next
 * batch arrives (or at a heartbeat) did not keep up: its events are dropped and it is closed with
 * a final comment; it resumes from its last id when it reconnects. Queued frames are the shared
 * Buffers of `frameOf`, so a client's queue costs little more than references.
 */
export class SseConnection implements HubSubscriber {
  private state: "opening" | "live" | "closed" = "opening";
  private buffer: StreamEntry[] = [];
  private overflowed = false;
  /** The newest entry dealt with: sent, or skipped by the filter. */
  private cursor = "0-0";
  /** The newest id the client knows (from an event or an id-only line). */
  private told: string | undefined;
  private readonly historyBatch: number;
  private readonly catchUpBuffer: number;
  /** The hub batch of the last live delivery. */
  private batch: number | undefined;
  private lifetime: NodeJS.Timeout | undefined;
  sent = 0;

  constructor(
    private readonly sink: SseSink,
    readonly filter: EventFilter,
    private readonly backend: EventBackend,
    private readonly o: SseConnectionOptions,
  ) {
    this.historyBatch = o.historyBatch ?? 500;
    this.catchUpBuffer = o.catchUpBuffer ?? 10_000;
    sink.on("close", () => this.closed());
  }

  get isOpen(): boolean {
    return this.state !== "closed";
  }

  get isLive(): boolean {
    return this.state === "live";
  }

  /**
   * `lastEventId`: a canonical stream id to resume after, undefined for a fresh client, null for
   * an id that is not one of this stream's (the client gets a `reset`).
   */
  async open(lastEventId: string | null | undefined): Promise<void> {
    this.sink.write(formatRetry(this.o.retryMs));
    if (this.o.maxLifetimeMs !== undefined) {
      this.lifetime = setTimeout(() => this.expire(), this.o.maxLifetimeMs * (1 - Math.random() / 10));
      this.lifetime.unref();
    }
    this.backend.subscribe(this);
    if (this.sink.destroyed) return this.closed();
    if (lastEventId === undefined) {
      this.cursor = this.backend.position();
      this.write(formatIdOnly(this.cursor), this.cursor);
      return this.goLive();
    }
    if (lastEventId === null || !(await this.backend.resumable(lastEventId))) {
      if (!this.isOpen) return;
      this.cursor = this.backend.position();
      const data = JSON.stringify({ reason: "the events after your Last-Event-ID are no longer kept: reload the state and continue from here", lastEventId: this.cursor });
      this.write(formatEvent({ id: this.cursor, event: "reset", data }), this.cursor);
      return this.goLive();
    }
    this.cursor = lastEventId;
    this.told = lastEventId;
    for (;;) {
      const page = await this.backend.range(this.cursor, this.historyBatch);
      if (!this.isOpen) return;
      for (const entry of page.entries) {
        if (!matchesFilter(this.filter, entry)) continue;
        if (!this.write(frameOf(entry), entry.id)) {
          if (!(await this.drained())) return this.closeSlow();
          if (!this.isOpen) return;
        }
      }
      if (page.lastId !== undefined) this.cursor = page.lastId;
      if (page.read < this.historyBatch) {
        if (!this.overflowed) break;
        // Live entries arrived faster than history was sent: they are in the stream, read on.
        this.overflowed = false;
        this.buffer = [];
      }
    }
    this.goLive();
  }

  deliver(entry: StreamEntry, batch?: number): void {
    if (this.state === "opening") {
      if (this.overflowed) return;
      if (this.buffer.length >= this.catchUpBuffer) {
        this.overflowed = true;
        this.buffer = [];
        return;
      }
      this.buffer.push(entry);
      return;
    }
    if (this.state !== "live") return;
    if (batch !== undefined && batch !== this.batch) {
      this.batch = batch;
      // What the previous batches queued is still there: this client does not keep up.
      if (this.sink.writableLength > this.o.maxBufferedBytes) return this.closeSlow();
    }
    if (compareStreamIds(entry.id, this.cursor) <= 0) return;
    this.cursor = entry.id;
    if (!matchesFilter(this.filter, entry)) return;
    this.write(frameOf(entry), entry.id);
  }

  /** A comment that keeps the connection alive; also moves the client past filtered-out entries. */
  heartbeat(): void {
    if (this.state !== "live") return;
    if (this.sink.writableLength > this.o.maxBufferedBytes) return this.closeSlow();
    if (this.told !== this.cursor) this.write(`: hb\n${formatIdOnly(this.cursor)}`, this.cursor);
    else this.write(formatComment("hb"));
  }

  /** Ends the stream (sidecar shutdown): the client reconnects and resumes elsewhere. */
  close(): void {
    if (this.state === "closed") return;
    this.closed();
    this.sink.end();
  }

  /**
   * Ends a stream that lived long enough (idle ones would otherwise hold a slot for ever). A live
   * client first gets the current resume point, so it skips what its filter did not want; one
   * still catching up resumes from the last event it was sent.
   */
  private expire(): void {
    if (this.state === "closed") return;
    if (this.state === "live" && this.told !== this.cursor) this.write(formatIdOnly(this.cursor), this.cursor);
    this.write(formatComment(LIFETIME_NOTE));
    this.close();
  }

  private goLive(): void {
    if (this.state !== "opening") return;
    this.state = "live";
    const pending = this.buffer;
    this.buffer = [];
    for (const entry of pending) this.deliver(entry);
    if (this.state === "live" && this.told !== this.cursor) this.write(formatIdOnly(this.cursor), this.cursor);
  }

  private write(chunk: string | Buffer, id?: string): boolean {
    if (id !== undefined) this.told = id;
    this.sent++;
    return this.sink.write(chunk);
  }

  /** Waits until the client took the queued bytes (true), closed (true), or stalled (false). */
  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.sink.removeListener("drain", onDrain);
        this.sink.removeListener("close", onDrain);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const timer = setTimeout(() => done(false), this.o.stallTimeoutMs ?? 60_000);
      this.sink.once("drain", onDrain);
      this.sink.once("close", onDrain);
    });
  }

  private closeSlow(): void {
    if (this.state === "closed") return;
    this.closed();
    this.o.onSlow?.(this);
    this.sink.write(formatComment(SLOW_CLIENT_NOTE));
    this.sink.end();
    // end() waits for the client to take the queued bytes; one that never reads must not hold them.
    const timer = setTimeout(() => this.sink.destroy(), this.o.closeGraceMs ?? 10_000);
    timer.unref();
    this.sink.once("close", () => clearTimeout(timer));
  }

  private closed(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.lifetime);
    this.buffer = [];
    this.backend.unsubscribe(this);
    this.o.onClose?.(this);
  }
}
