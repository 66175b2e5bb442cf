/**
 * SSE fan-out benchmark (a script that prints numbers, not a test).
 *
 *   npm run bench:sse -- [--clients 1000] [--rate 10] [--seconds 20]
 *
 * For each client count N it starts a sidecar (`node --import tsx src/main.ts --role sidecar`, its
 * own Redis prefix, database schema and namespace), opens N raw HTTP connections to
 * GET /api/v1/events on loopback (what EventSource does), then adds `rate` log events per second
 * for `seconds` straight into the Redis event stream (XADD, as a worker does), each carrying its
 * send time. It reports the delivery latency (XADD sent → event parsed by the client) over every
 * client and event, events lost, and the sidecar's RSS before and after the connections (per
 * connection) and at its peak while streaming. Publisher and clients share this process, so the
 * latency includes this process's own event-loop delays; the sidecar runs alone in its child.
 * More than ~1,000 clients need `ulimit -n` above 2 × N (this process and the sidecar each hold N sockets).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { encodeFields, eventsStreamKey } from "../src/events/stream.js";
import { ensureCrds } from "../test/support/operator-harness.js";
import { uniqueName } from "../test/support/kube.js";
import { platformEnv } from "../test/support/platform-env.js";
import { repoRoot } from "../test/support/paths.js";
import { OperatorProcess } from "./support/operator-process.js";
import { mib, readCpu, readMemory } from "./support/proc.js";
import { percentile, pool, table } from "./support/stats.js";

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", default: "1000" },
    rate: { type: "string", default: "10" },
    seconds: { type: "string", default: "20" },
    "connect-concurrency": { type: "string", default: "200" },
    "log-level": { type: "string", default: "warn" },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(`usage: npm run bench:sse -- [options]
  --clients 1000          SSE clients per scenario; a list (1000,4000) runs one scenario each
  --rate 10               events per second added to the stream
  --seconds 20            how long events are added
  --connect-concurrency 200  connections opened at once
  --log-level warn        PTM_LOG_LEVEL of the sidecar
  --out FILE              JSON report (default bench/results/sse-clients-<date>.json)`);
  process.exit(0);
}

const sizes = flags.clients!.split(",").map(Number);
const rate = Number(flags.rate);
const duration = Number(flags.seconds);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(rate > 0) || !(duration > 0)) throw new Error("--clients, --rate and --seconds must be positive numbers");

const now = () => performance.timeOrigin + performance.now();

interface ScenarioResult {
  clients: number;
  connected: number;
  connectSeconds: number;
  events: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  disconnected: number;
  latencyMs: { p50?: number; p90?: number; p99?: number; max?: number };
  rssMiB: { idle?: number; connected?: number; peak?: number; perConnectionKiB: number };
  sidecarCpuSeconds: number;
  /** CPU of this process (publisher and clients) over the same time. */
  benchCpuSeconds: number;
}

/**
 * One SSE client on a raw TCP connection (an HTTP/1.1 GET written by hand): Node's HTTP client
 * costs this process more CPU than the sidecar spends, which would measure the load generator.
 * Frames are found by their blank line; chunked-encoding size lines in between do not matter,
 * as only `"seq":` and `"sentAt":` are read from each frame.
 */
class BenchClient {
  socket: Socket | undefined;
  connected = false;
  ended = false;
  private tail = "";
  readonly seen = new Set<number>();
  duplicates = 0;

  constructor(private readonly latencies: number[]) {}

  open(port: number, path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: "127.0.0.1", noDelay: true });
      this.socket = socket;
      socket.setEncoding("utf8");
      socket.once("connect", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`));
      socket.on("data", (chunk: string) => {
        if (!this.connected) {
          if (!chunk.startsWith("HTTP/1.1 200")) {
            reject(new Error(chunk.split("\r\n")[0]));
            socket.destroy();
            return;
          }
          this.connected = true;
          resolve();
        }
        this.feed(chunk);
      });
      socket.on("close", () => {
        this.ended = true;
        reject(new Error("closed"));
      });
      socket.on("error", () => undefined);
    });
  }

  private feed(chunk: string): void {
    const text = this.tail + chunk;
    const frames = text.split("\n\n");
    this.tail = frames.pop() ?? "";
    const t = now();
    for (const frame of frames) {
      const at = frame.indexOf('"sentAt":');
      if (at < 0) continue;
      const sentAt = Number(/^"sentAt":([0-9.]+)/.exec(frame.slice(at))?.[1]);
      const seq = Number(/"seq":(\d+)/.exec(frame)?.[1]);
      if (this.seen.has(seq)) this.duplicates++;
      this.seen.add(seq);
      this.latencies.push(t - sentAt);
    }
  }

  close(): void {
    this.socket?.destroy();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function openFileLimit(): Promise<number> {
  const limits = await readFile("/proc/self/limits", "utf8").catch(() => "");
  return Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? Infinity);
}

async function scenario(n: number, logDir: string): Promise<ScenarioResult> {
  const p = platformEnv();
  const prefix = `bsse${randomBytes(3).toString("hex")}`;
  const schema = `bsse_${randomBytes(3).toString("hex")}`;
  const namespace = uniqueName("bench-sse");
  const port = await freePort();
  const workdir = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-sse-"));
  const sidecar = new OperatorProcess(
    "sidecar",
    repoRoot,
    {
      ...p,
      PTM_QUEUE_PREFIX: prefix,
      PTM_DB_SCHEMA: schema,
      PTM_STATE_SCHEMA: `${schema}_state`,
      PTM_NAMESPACE: namespace,
      PTM_LEADER_ELECTION: "false",
      PTM_WORKDIR_ROOT: workdir,
      PTM_SIDECAR_PORT: String(port),
      PTM_SIDECAR_HOST: "127.0.0.1",
      PTM_SSE_MAX_CLIENTS: String(n + 100),
      PTM_LOG_LEVEL: flags["log-level"]!,
    },
    logDir,
  );
  const base = `http://127.0.0.1:${port}`;
  const redis = new Redis(p.REDIS_URL);
  const clients: BenchClient[] = [];
  const latencies: number[] = [];
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (sidecar.exited) throw new Error(`the sidecar exited (${JSON.stringify(sidecar.exited)}); see ${sidecar.logFile}`);
      if (Date.now() > deadline) throw new Error(`the sidecar did not answer within 60 s; see ${sidecar.logFile}`);
      const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      await sleep(200);
    }
    await sleep(2000);
    const idle = readMemory(sidecar.pid)!.rssKiB;

    const started = performance.now();
    await pool(
      Array.from({ length: n }, (_, i) => i),
      Number(flags["connect-concurrency"]),
      async () => {
        const c = new BenchClient(latencies);
        clients.push(c);
        await c.open(port, `/api/v1/events?namespace=${namespace}`).catch(() => undefined);
      },
    );
    const connectSeconds = (performance.now() - started) / 1000;
    const connected = clients.filter((c) => c.connected).length;
    await sleep(2000);
    const connectedRss = readMemory(sidecar.pid)!.rssKiB;
    const cpuBefore = readCpu(sidecar.pid);
    const ownCpuBefore = readCpu("self");

    // Publish at `rate` per second, on a fixed schedule (no drift).
    const runId = randomUUID();
    const total = Math.round(rate * duration);
    let peak = connectedRss;
    const sampler = setInterval(() => (peak = Math.max(peak, readMemory(sidecar.pid)?.rssKiB ?? 0)), 250);
    const t0 = performance.now();
    for (let seq = 1; seq <= total; seq++) {
      const wait = t0 + ((seq - 1) * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const data = {
        runId,
        seq,
        ts: new Date().toISOString(),
        level: "info",
        type: "apply_progress",
        message: `proxmox_virtual_environment_vm.vm: Still creating... [${seq}s elapsed] (bench line ${seq})`,
        namespace,
        name: "bench",
        sentAt: now(),
      };
      await redis.xadd(eventsStreamKey(prefix), "MAXLEN", "~", "100000", "*", ...encodeFields({ kind: "log", namespace, name: "bench", runId, data }));
    }
    // Let the last events arrive.
    const settle = Date.now() + 10_000;
    while (Date.now() < settle && latencies.length < connected * total) await sleep(100);
    clearInterval(sampler);
    peak = Math.max(peak, readMemory(sidecar.pid)?.rssKiB ?? 0);
    const cpuAfter = readCpu(sidecar.pid);
    const ownCpuAfter = readCpu("self");

    const delivered = latencies.length;
    const round = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 10) / 10);
    return {
      clients: n,
      connected,
      connectSeconds: Math.round(connectSeconds * 100) / 100,
      events: total,
      expected: connected * total,
      delivered,
      lost: clients.reduce((sum, c) => sum + (c.connected ? total - c.seen.size : 0), 0),
      duplicates: clients.reduce((sum, c) => sum + c.duplicates, 0),
      disconnected: clients.filter((c) => c.connected && c.ended).length,
      latencyMs: { p50: round(percentile(latencies, 50)), p90: round(percentile(latencies, 90)), p99: round(percentile(latencies, 99)), max: round(latencies.length ? latencies.reduce((a, b) => Math.max(a, b), 0) : undefined) },
      rssMiB: { idle: mib(idle), connected: mib(connectedRss), peak: mib(peak), perConnectionKiB: Math.round(((connectedRss - idle) / Math.max(1, connected)) * 10) / 10 },
      sidecarCpuSeconds: Math.round(((cpuAfter?.self ?? 0) - (cpuBefore?.self ?? 0)) * 100) / 100,
      benchCpuSeconds: Math.round(((ownCpuAfter?.self ?? 0) - (ownCpuBefore?.self ?? 0)) * 100) / 100,
    };
  } finally {
    for (const c of clients) c.close();
    await sidecar.stop(10_000);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    const db = new pg.Client({ connectionString: p.DATABASE_URL });
    await db.connect();
    await db.query(`drop schema if exists ${schema} cascade`);
    await db.end();
    await rm(workdir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const limit = await openFileLimit();
  const biggest = Math.max(...sizes);
  if (biggest + 200 > limit) {
    console.error(`[bench:sse] ${biggest} clients need more than ${limit} open files: raise it first (ulimit -n ${biggest * 2 + 1000})`);
    process.exit(2);
  }
  await ensureCrds();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const logDir = path.join(repoRoot, "bench", "results", `sse-logs-${stamp}`);
  await mkdir(logDir, { recursive: true });
  const results: ScenarioResult[] = [];
  for (const n of sizes) {
    console.error(`[bench:sse] ${n} clients, ${rate} events/s for ${duration} s ...`);
    results.push(await scenario(n, logDir));
  }
  console.log(
    table(
      ["clients", "connected", "connect s", "events", "delivered", "lost", "dup", "dropped", "p50 ms", "p90 ms", "p99 ms", "max ms", "RSS idle MiB", "RSS conn MiB", "RSS peak MiB", "KiB/conn", "sidecar CPU s", "bench CPU s"],
      results.map((r) => [
        r.clients,
        r.connected,
        r.connectSeconds,
        r.events,
        r.delivered,
        r.lost,
        r.duplicates,
        r.disconnected,
        r.latencyMs.p50,
        r.latencyMs.p90,
        r.latencyMs.p99,
        r.latencyMs.max,
        r.rssMiB.idle,
        r.rssMiB.connected,
        r.rssMiB.peak,
        r.rssMiB.perConnectionKiB,
        r.sidecarCpuSeconds,
        r.benchCpuSeconds,
      ]),
    ),
  );
  const out = flags.out ?? path.join(repoRoot, "bench", "results", `sse-clients-${stamp}.json`);
  await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), rate, seconds: duration, cpus: os.cpus().length, node: process.version, results }, null, 2)}\n`);
  console.error(`[bench:sse] report: ${path.relative(repoRoot, out)}; sidecar logs: ${path.relative(repoRoot, logDir)}`);
}

await main();
process.exit(0);
