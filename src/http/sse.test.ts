import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import type { EventBackend, HistoryPage, HubSubscriber } from "../events/hub.js";
import type { StreamEntry, StreamEventKind } from "../events/stream.js";
import { compareStreamIds } from "../events/stream-id.js";
import { formatComment, formatEvent, formatIdOnly, formatRetry, SLOW_CLIENT_NOTE, SseConnection } from "./sse.js";

describe("SSE framing", () => {
  it("writes id, event and data fields and ends with a blank line", () => {
    expect(formatEvent({ id: "5-0", event: "vm", data: '{"a":1}' })).toBe('id: 5-0\nevent: vm\ndata: {"a":1}\n\n');
    expect(formatEvent({ data: "x" })).toBe("data: x\n\n");
  });

  it("splits multi-line data into data lines", () => {
    expect(formatEvent({ data: "a\nb\r\nc" })).toBe("data: a\ndata: b\ndata: c\n\n");
  });

  it("refuses line breaks in ids and event names", () => {
    expect(() => formatEvent({ id: "1\n2", data: "" })).toThrow(/line break/);
    expect(() => formatEvent({ event: "a\rb", data: "" })).toThrow(/line break/);
  });

  it("writes comments, the retry hint and id-only lines", () => {
    expect(formatComment("hb")).toBe(": hb\n\n");
    expect(formatRetry(3000)).toBe("retry: 3000\n\n");
    expect(formatIdOnly("7-1")).toBe("id: 7-1\n\n");
  });
});

/** A stand-in for the hub and the Redis stream: entries are added, and delivered when `flush`ed (the hub may lag). */
class FakeStream implements EventBackend {
  entries: StreamEntry[] = [];
  private readonly subscribers = new Set<HubSubscriber>();
  private delivered = 0;
  private batch = 0;
  private ms = 1000;
  trimmed = false;
  /** Runs inside range() before it answers: a way to add entries while history is read. */
  duringRange: (() => void) | undefined;

  add(kind: StreamEventKind, namespace: string, name: string, runId?: string): StreamEntry {
    const id = `${++this.ms}-0`;
    const entry: StreamEntry = { id, kind, namespace, name, runId, data: JSON.stringify({ id }) };
    this.entries.push(entry);
    return entry;
  }

  /** The hub reads what was added and hands it to subscribers. */
  flush(): void {
    this.batch++;
    for (; this.delivered < this.entries.length; this.delivered++) {
      for (const s of this.subscribers) s.deliver(this.entries[this.delivered]!, this.batch);
    }
  }

  trim(keep: number): void {
    this.entries = this.entries.slice(-keep);
    this.delivered = Math.min(this.delivered, this.entries.length);
    this.trimmed = true;
  }

  position(): string {
    return this.delivered > 0 ? this.entries[this.delivered - 1]!.id : "0-0";
  }
  subscribe(s: HubSubscriber): void {
    this.subscribers.add(s);
  }
  unsubscribe(s: HubSubscriber): void {
    this.subscribers.delete(s);
  }
  get subscriberCount(): number {
    return this.subscribers.size;
  }
  async range(after: string, count: number): Promise<HistoryPage> {
    await Promise.resolve();
    this.duringRange?.();
    const page = this.entries.filter((e) => compareStreamIds(e.id, after) > 0).slice(0, count);
    return { entries: page, read: page.length, lastId: page.at(-1)?.id };
  }
  async resumable(id: string): Promise<boolean> {
    if (id === "0-0") return !this.trimmed;
    return this.entries.some((e) => e.id === id);
  }
}

/** A stand-in for the HTTP response: records what was written; `stuck` makes it stop taking bytes. */
class FakeSink extends EventEmitter {
  text = "";
  writableLength = 0;
  destroyed = false;
  ended = false;
  stuck = false;
  write(chunk: string | Buffer): boolean {
    const s = chunk.toString();
    if (this.stuck) this.writableLength += s.length;
    this.text += s;
    return this.writableLength < 1000;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit("close");
  }
  unstick(): void {
    this.stuck = false;
    this.writableLength = 0;
    this.emit("drain");
  }
  /** Events (frames with data) in order: [id, event]. */
  events(): [string, string][] {
    return this.text
      .split("\n\n")
      .map((frame) => {
        const f: Record<string, string> = {};
        for (const line of frame.split("\n")) {
          const m = /^([a-z]+): ?(.*)$/i.exec(line);
          if (m) f[m[1]!] = m[2]!;
        }
        return f;
      })
      .filter((f) => f.data !== undefined)
      .map((f) => [f.id!, f.event!]);
  }
  /** The id EventSource would send as Last-Event-ID now. */
  lastId(): string | undefined {
    let last: string | undefined;
    for (const m of this.text.matchAll(/^id: (.*)$/gm)) last = m[1];
    return last;
  }
}

const opts = { retryMs: 3000, maxBufferedBytes: 2000 };
const ids = (entries: StreamEntry[]) => entries.map((e) => [e.id, e.kind] as [string, string]);

describe("SseConnection", () => {
  it("starts a fresh client at the stream's end with the retry hint and a resume point", async () => {
    const s = new FakeStream();
    s.add("vm", "a", "x");
    s.flush();
    const sink = new FakeSink();
    const c = new SseConnection(sink, {}, s, opts);
    await c.open(undefined);
    expect(sink.text).toBe(`retry: 3000\n\nid: ${s.entries[0]!.id}\n\n`);
    const e = s.add("run", "a", "x", "r1");
    s.flush();
    expect(sink.events()).toEqual(ids([e]));
  });

  it("sends exactly the missed events, in order, then live ones", async () => {
    const s = new FakeStream();
    const before = [s.add("vm", "a", "x"), s.add("run", "a", "x", "r"), s.add("log", "a", "x", "r")];
    const missed = [s.add("log", "a", "x", "r"), s.add("vm", "a", "x"), s.add("run", "a", "x", "r")];
    s.flush();
    const sink = new FakeSink();
    const c = new SseConnection(sink, {}, s, opts);
    await c.open(before.at(-1)!.id);
    const live = s.add("vm", "a", "x");
    s.flush();
    expect(sink.events()).toEqual(ids([...missed, live]));
  });

  it("loses and repeats nothing when entries arrive while history is read and the hub lags", async () => {
    const s = new FakeStream();
    const first = s.add("vm", "a", "x");
    s.flush();
    for (let i = 0; i < 25; i++) s.add("log", "a", "x", "r");
    // The hub delivers part of the backlog and more entries arrive during the history reads.
    let rounds = 0;
    s.duringRange = () => {
      if (rounds++ < 3) {
        s.add("log", "a", "x", "r");
        if (rounds === 2) s.flush();
      }
    };
    const sink = new FakeSink();
    const c = new SseConnection(sink, {}, s, { ...opts, historyBatch: 4 });
    await c.open(first.id);
    s.add("vm", "a", "x");
    s.flush();
    s.add("vm", "a", "x");
    s.flush();
    expect(sink.events()).toEqual(ids(s.entries.slice(1)));
  });

  it("re-reads the stream when more live entries arrive while catching up than it keeps", async () => {
    const s = new FakeStream();
    const first = s.add("vm", "a", "x");
    s.flush();
    let rounds = 0;
    s.duringRange = () => {
      if (rounds++ < 2) {
        for (let i = 0; i < 10; i++) s.add("log", "a", "x", "r");
        s.flush();
      }
    };
    const sink = new FakeSink();
    const c = new SseConnection(sink, {}, s, { ...opts, historyBatch: 3, catchUpBuffer: 4 });
    await c.open(first.id);
    s.add("vm", "a", "x");
    s.flush();
    expect(sink.events()).toEqual(ids(s.entries.slice(1)));
  });

  it("applies the filter to history and live events and moves the resume point past skipped ones", async () => {
    const s = new FakeStream();
    const start = s.add("vm", "a", "x");
    const wanted = [s.add("vm", "a", "web"), s.add("log", "a", "web", "r")];
    const other = s.add("vm", "b", "web");
    s.flush();
    const sink = new FakeSink();
    const c = new SseConnection(sink, { namespace: "a", name: "web" }, s, opts);
    await c.open(start.id);
    expect(sink.events()).toEqual(ids(wanted));
    expect(sink.lastId()).toBe(other.id);
    const skipped = s.add("vm", "b", "web");
    s.flush();
    c.heartbeat();
    expect(sink.text.endsWith(`: hb\nid: ${skipped.id}\n\n`)).toBe(true);
    c.heartbeat();
    expect(sink.text.endsWith(": hb\n\n")).toBe(true);
  });

  it("tells a client whose events were trimmed to reset, then continues live", async () => {
    const s = new FakeStream();
    const old = s.add("vm", "a", "x");
    for (let i = 0; i < 5; i++) s.add("vm", "a", "x");
    s.flush();
    s.trim(3);
    const sink = new FakeSink();
    const c = new SseConnection(sink, {}, s, opts);
    await c.open(old.id);
    expect(sink.events()).toEqual([[s.position(), "reset"]]);
    expect(sink.text).toMatch(/"lastEventId":"/);
    const live = s.add("run", "a", "x", "r");
    s.flush();
    expect(sink.events().slice(1)).toEqual(ids([live]));
  });

  it("resets on an id that is not the stream's, and on 0-0 after trimming", async () => {
    const s = new FakeStream();
    s.add("vm", "a", "x");
    s.flush();
    for (const id of [null, "5-5"]) {
      const sink = new FakeSink();
      await new SseConnection(sink, {}, s, opts).open(id);
      expect(sink.events()[0]?.[1]).toBe("reset");
    }
    const fresh = new FakeSink();
    await new SseConnection(fresh, {}, s, opts).open("0-0");
    expect(fresh.events()).toEqual(ids(s.entries));
    s.trim(1);
    const late = new FakeSink();
    await new SseConnection(late, {}, s, opts).open("0-0");
    expect(late.events()[0]?.[1]).toBe("reset");
  });

  it("disconnects a live client that does not read, with a final note, and it resumes where it stopped", async () => {
    const s = new FakeStream();
    s.flush();
    const sink = new FakeSink();
    let slow = 0;
    const c = new SseConnection(sink, {}, s, { ...opts, maxBufferedBytes: 300, onSlow: () => slow++ });
    await c.open(undefined);
    sink.stuck = true;
    for (let i = 0; i < 20; i++) {
      s.add("log", "a", "x", "r");
      s.flush();
    }
    expect(slow).toBe(1);
    expect(c.isOpen).toBe(false);
    expect(sink.ended).toBe(true);
    expect(sink.text.endsWith(formatComment(SLOW_CLIENT_NOTE))).toBe(true);
    expect(s.subscriberCount).toBe(0);
    const got = sink.events();
    expect(got.length).toBeLessThan(20);
    expect(got).toEqual(ids(s.entries.slice(0, got.length)));
    // Its Last-Event-ID is the last event it got: resuming sends the rest, once.
    const again = new FakeSink();
    await new SseConnection(again, {}, s, opts).open(sink.lastId()!);
    expect([...got, ...again.events()]).toEqual(ids(s.entries));
  });

  it("lets a burst queue more than the limit for a moment when the client takes it before the next batch", async () => {
    const s = new FakeStream();
    const sink = new FakeSink();
    let slow = 0;
    const c = new SseConnection(sink, {}, s, { ...opts, maxBufferedBytes: 300, onSlow: () => slow++ });
    await c.open(undefined);
    sink.stuck = true;
    for (let i = 0; i < 20; i++) s.add("log", "a", "x", "r");
    s.flush();
    expect(sink.writableLength).toBeGreaterThan(300);
    sink.unstick();
    s.add("vm", "a", "x");
    s.flush();
    expect(slow).toBe(0);
    expect(sink.events()).toEqual(ids(s.entries));
    // Still over the limit at a heartbeat: slow.
    sink.stuck = true;
    for (let i = 0; i < 20; i++) s.add("log", "a", "x", "r");
    s.flush();
    c.heartbeat();
    expect(slow).toBe(1);
  });

  it("waits for a slow client while sending history instead of queueing it all", async () => {
    const s = new FakeStream();
    const first = s.add("vm", "a", "x");
    for (let i = 0; i < 30; i++) s.add("log", "a", "x", "r");
    s.flush();
    const sink = new FakeSink();
    sink.stuck = true;
    const c = new SseConnection(sink, {}, s, { ...opts, historyBatch: 5 });
    const opening = c.open(first.id);
    await new Promise((r) => setTimeout(r, 10));
    const sentWhileStuck = sink.events().length;
    expect(sentWhileStuck).toBeLessThan(30);
    sink.unstick();
    for (let i = 0; i < 50 && !c.isLive; i++) {
      await new Promise((r) => setTimeout(r, 1));
      sink.unstick();
    }
    await opening;
    expect(sink.events()).toEqual(ids(s.entries.slice(1)));
  });

  it("closes a client that stops reading while catching up", async () => {
    const s = new FakeStream();
    const first = s.add("vm", "a", "x");
    for (let i = 0; i < 30; i++) s.add("log", "a", "x", "r");
    s.flush();
    const sink = new FakeSink();
    sink.stuck = true;
    let slow = 0;
    const c = new SseConnection(sink, {}, s, { ...opts, stallTimeoutMs: 20, onSlow: () => slow++ });
    await c.open(first.id);
    expect(slow).toBe(1);
    expect(c.isOpen).toBe(false);
  });

  it("unsubscribes when the client goes away", async () => {
    const s = new FakeStream();
    const sink = new FakeSink();
    let closed = 0;
    const c = new SseConnection(sink, {}, s, { ...opts, onClose: () => closed++ });
    await c.open(undefined);
    expect(s.subscriberCount).toBe(1);
    sink.emit("close");
    expect(s.subscriberCount).toBe(0);
    expect(closed).toBe(1);
    s.add("vm", "a", "x");
    s.flush();
    expect(sink.events()).toEqual([]);
  });
});
