import { request, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { readEnv } from "../config/env.js";
import type { EventBackend, HistoryPage, HubSubscriber } from "../events/hub.js";
import type { StreamEntry } from "../events/stream.js";
import { compareStreamIds } from "../events/stream-id.js";
import { Metrics } from "../telemetry/metrics.js";
import { checkReadiness } from "./health.js";
import { createHttpApp, type HttpApp, type SseSettings } from "./http-app.js";
import { createLimitedServer, type ServerLimits } from "./server-limits.js";
import { LIFETIME_NOTE } from "./sse.js";

/**
 * The sidecar's limits against one greedy or careless client: streams per address, stream
 * lifetime (and exact resume after it), header/request timeouts and the connection cap, the
 * admin token refused in a URL, equal tokens refused at start, no-store whatever the path's case.
 */

const READ = "read-token-0123456789";
const ADMIN = "admin-token-0123456789";

/** A Redis stream stand-in: `add` appends and delivers at once, `range` reads history. */
class MemoryStream implements EventBackend {
  readonly entries: StreamEntry[] = [];
  private readonly subscribers = new Set<HubSubscriber>();
  private ms = 1000;
  private batch = 0;

  add(): StreamEntry {
    const id = `${++this.ms}-0`;
    const entry: StreamEntry = { id, kind: "log", namespace: "ns", name: "web", runId: undefined, data: JSON.stringify({ n: this.entries.length + 1 }) };
    this.entries.push(entry);
    this.batch++;
    for (const s of this.subscribers) s.deliver(entry, this.batch);
    return entry;
  }

  position = () => this.entries.at(-1)?.id ?? "1000-0";
  subscribe = (s: HubSubscriber) => void this.subscribers.add(s);
  unsubscribe = (s: HubSubscriber) => void this.subscribers.delete(s);
  get subscriberCount(): number {
    return this.subscribers.size;
  }
  range = async (after: string, count: number): Promise<HistoryPage> => {
    const entries = this.entries.filter((e) => compareStreamIds(e.id, after) > 0).slice(0, count);
    return { entries, read: entries.length, lastId: entries.at(-1)?.id };
  };
  resumable = async () => true;
}

interface Running {
  base: string;
  port: number;
  http: HttpApp;
  server: Server;
  stream: MemoryStream;
}

const running: Running[] = [];

async function serve(sse: Partial<SseSettings>, opts: { auth?: { readToken?: string; adminToken?: string }; limits?: Partial<ServerLimits> } = {}): Promise<Running> {
  const stream = new MemoryStream();
  const http = createHttpApp({
    logger: pino({ level: "silent" }),
    metrics: new Metrics({ defaultMetrics: false }),
    version: "0.0.0-test",
    vms: { list: () => [], get: () => undefined, synced: () => true },
    runs: { list: async () => ({ runs: [], nextCursor: null }), get: async () => undefined, events: async () => [] },
    events: stream,
    readiness: () => checkReadiness({}),
    auth: opts.auth ?? {},
    sse: { retryMs: 1000, heartbeatMs: 60_000, maxClients: 100, maxBufferedBytes: 65_536, ...sse },
  });
  const server = createLimitedServer(http.app, { headersTimeoutMs: 20_000, requestTimeoutMs: 60_000, maxConnections: 1000, ...opts.limits });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const s = { base: `http://127.0.0.1:${port}`, port, http, server, stream };
  running.push(s);
  return s;
}

afterEach(async () => {
  for (const s of running.splice(0)) {
    s.http.close();
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
  }
});

/** An open SSE stream: its status, what it received so far, and a promise of its end. */
interface Stream {
  status: number;
  body: () => string;
  ended: Promise<string>;
  response: IncomingMessage;
  close: () => void;
}

function openStream(base: string, path = "/api/v1/events", headers: Record<string, string> = {}, localAddress?: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { headers, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      const ended = new Promise<string>((done) => {
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => done(text));
        res.on("close", () => done(text));
      });
      resolve({ status: res.statusCode!, body: () => text, ended, response: res, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  const s = await openStream(base, path, headers);
  const body = await s.ended;
  return { status: s.status, headers: s.response.headers, body };
}

/** Resolves once `predicate` holds for the stream's text (the server writes asynchronously). */
async function until(stream: Stream, predicate: (text: string) => boolean): Promise<void> {
  while (!predicate(stream.body())) {
    await new Promise<void>((r) => stream.response.once("data", () => r()));
  }
}

const dataLines = (text: string) => text.split("\n").filter((l) => l.startsWith("data: "));
const idLines = (text: string) => text.split("\n").filter((l) => l.startsWith("id: "));

describe("SSE streams per client address", () => {
  it("refuses a client its next stream at the cap with 429, others still get theirs, and a closed stream frees a slot", async () => {
    const s = await serve({ maxClientsPerAddress: 2 });
    const first = await openStream(s.base);
    const second = await openStream(s.base);
    expect([first.status, second.status]).toEqual([200, 200]);

    const third = await openStream(s.base);
    expect(third.status).toBe(429);
    expect(third.response.headers["retry-after"]).toBe("5");
    expect(JSON.parse(await third.ended)).toEqual({ error: { code: "TooManyRequests", message: "too many event streams from your address; close one and try again" } });

    // Another address (all of 127/8 is loopback) is not affected by the first one's streams.
    const elsewhere = await openStream(s.base, "/api/v1/events", {}, "127.0.0.2");
    expect(elsewhere.status).toBe(200);

    first.close();
    await first.ended;
    while (s.http.connections.size > 2) await new Promise((r) => setImmediate(r));
    const again = await openStream(s.base);
    expect(again.status).toBe(200);
  });
});

describe("SSE stream lifetime", () => {
  it("ends a stream after its lifetime with a note and the resume point; resuming gets exactly the rest", async () => {
    const s = await serve({ maxLifetimeMs: 400 });
    const first = await openStream(s.base);
    await until(first, (t) => t.includes("id: 1000-0"));
    s.stream.add();
    s.stream.add();
    await until(first, (t) => dataLines(t).length === 2);

    const text = await first.ended;
    expect(text.trimEnd().endsWith(`: ${LIFETIME_NOTE}`)).toBe(true);
    expect(s.stream.subscriberCount).toBe(0);
    const lastId = idLines(text).at(-1)!.slice("id: ".length);
    expect(lastId).toBe("1002-0");

    // Missed while reconnecting: two entries. The resumed stream sends exactly those, in order.
    s.stream.add();
    s.stream.add();
    const resumed = await openStream(s.base, "/api/v1/events", { "Last-Event-ID": lastId });
    await until(resumed, (t) => dataLines(t).length === 2);
    expect(dataLines(resumed.body())).toEqual(['data: {"n":3}', 'data: {"n":4}']);
    expect(idLines(resumed.body()).slice(0, 2)).toEqual(["id: 1003-0", "id: 1004-0"]);
    resumed.close();
  });
});

describe("tokens", () => {
  it("refuses the admin token in ?access_token=, while the read token works there", async () => {
    const s = await serve({}, { auth: { readToken: READ, adminToken: ADMIN } });
    const refused = await get(s.base, `/api/v1/events?access_token=${ADMIN}`);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error.message).toMatch(/admin token is not accepted in a URL/);
    expect(s.http.connections.size).toBe(0);

    const read = await openStream(s.base, `/api/v1/events?access_token=${READ}`);
    expect(read.status).toBe(200);
    read.close();
    // The admin token still works where it belongs: the Authorization header.
    const header = await openStream(s.base, "/api/v1/events", { Authorization: `Bearer ${ADMIN}` });
    expect(header.status).toBe(200);
    header.close();
  });

  it("refuses the admin token in a URL even when reads are open", async () => {
    const s = await serve({}, { auth: { adminToken: ADMIN } });
    expect((await get(s.base, `/api/v1/vms?access_token=${ADMIN}`)).status).toBe(400);
    expect((await get(s.base, "/api/v1/vms")).status).toBe(200);
  });

  it("will not start with a read token equal to the admin token", () => {
    const base = { REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db" };
    expect(() => readEnv({ ...base, PTM_SIDECAR_READ_TOKEN: READ, PTM_SIDECAR_ADMIN_TOKEN: READ })).toThrow(/must differ from PTM_SIDECAR_READ_TOKEN/);
  });
});

describe("Cache-Control", () => {
  it("is no-store on every API answer, whatever the case of the path or a trailing slash", async () => {
    const s = await serve({});
    for (const path of ["/api/v1/vms", "/API/V1/VMS", "/Api/v1/vms/", "/api/v1/nothing", "/API/V1/OPENAPI.JSON", "/METRICS", "/Healthz", "/READYZ/"]) {
      const a = await get(s.base, path);
      expect(a.headers["cache-control"], path).toBe("no-store");
    }
    // Express matches routes ignoring case: the upper-case spelling is the same endpoint.
    expect((await get(s.base, "/API/V1/VMS")).status).toBe(200);
  });
});

describe("server limits", () => {
  /** A raw TCP client: `sent` writes, `closed` resolves with everything the server answered. */
  function rawClient(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        let text = "";
        const closed = new Promise<string>((done) => {
          socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
          socket.on("close", () => done(text));
          socket.on("error", () => undefined);
        });
        resolve({ socket, closed });
      });
      socket.once("error", reject);
    });
  }

  it("answers 408 and drops a client that never finishes its headers", async () => {
    const s = await serve({}, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const client = await rawClient(s.port);
    client.socket.write("GET /api/v1/vms HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    expect(await client.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes with 408 the connection of a client that never finishes its body", async () => {
    const s = await serve({}, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const client = await rawClient(s.port);
    client.socket.write("POST /api/v1/namespaces/ns/vms/web/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
    // The route may answer before the body is in (this one refuses: no admin token); the
    // connection is still cut once the request time is up.
    expect(await client.closed).toMatch(/HTTP\/1\.1 408 Request Timeout\r\nConnection: close\r\n\r\n$/);
  });

  it("refuses connections beyond maxConnections and serves the ones it holds", async () => {
    const s = await serve({}, { limits: { maxConnections: 2 } });
    const held = [await openStream(s.base), await openStream(s.base)];
    expect(held.map((h) => h.status)).toEqual([200, 200]);
    const extra = await rawClient(s.port);
    extra.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await extra.closed).toBe("");
    for (const h of held) h.close();
  });
});
