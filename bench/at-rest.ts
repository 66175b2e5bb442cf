/**
 * The controller at rest (issue 13, "10,000 VMs at rest"; a script that prints numbers, not a test).
 *
 *   npx tsx bench/at-rest.ts [--vms 10000] [--concurrency 32] [--resync-s 90] [--drift-s 60]
 *     [--changed 10] [--controller-node-options=--max-old-space-size=160] [--tsx]
 *
 * The controller runs as the image runs it, `node dist/src/main.js` of a tsc build (made into
 * .platform/, so node_modules resolve); `--tsx` runs the sources through tsx instead, whose
 * loader adds about 150 MiB of RSS.
 *
 * Creates `--vms` ProxmoxVMs in the platform's kube-apiserver and writes each one's status as a
 * worker would after an apply (the stack hash of its spec, Ready, a VM id); seeds the simulator
 * with the matching VMs directly (no tofu). Then starts one controller process (no worker) with
 * a counting hook on its outgoing HTTPS requests (bench/support/request-counter.mjs), waits for
 * its start-up reconciles to finish, and measures one full periodic resync: the controller's
 * RSS, its CPU seconds, and the kube and Proxmox API requests it made meanwhile.
 * Targets: RSS < 250 MB, 0 GETs per VM, < 10 CPU-s.
 *
 * Then a second controller whose drift interval (`--drift-s`) has passed for every VM: after the
 * sweep its start-up makes, two drift sweeps are measured, one with nothing changed (target: 0 runs queued, so 0 tofu, < 30 CPU-s) and one after
 * `--changed` VMs had their memory changed on Proxmox (target: exactly those runs queued; that
 * such a run corrects its VM is what test/e2e/drift-by-digest.test.ts shows, with a worker).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, PROXMOX_CONNECTION } from "../src/api/group.js";
import { DEFAULT_SEED, startSimulator } from "../src/simulator/index.js";
import { configDigest } from "../src/simulator/vm-config.js";
import { Queue } from "bullmq";
import { RUN_QUEUE } from "../src/queue/run-queue.js";
import { redisConnection } from "../src/queue/redis-connection.js";
import { createFleet, deleteFleet, diffTally, inPool, reconcileCount, writeAppliedStatus, type RequestTally } from "../test/support/applied-fleet.js";
import { platformKubeConfig, uniqueName } from "../test/support/kube.js";
import { ensureCrds } from "../test/support/operator-harness.js";
import { platformEnv } from "../test/support/platform-env.js";
import { repoRoot } from "../test/support/paths.js";
import { OperatorProcess } from "./support/operator-process.js";
import { diffCpu, mib, readCpu, readMemory } from "./support/proc.js";

const execFileAsync = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    vms: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "32" },
    "resync-s": { type: "string", default: "90" },
    "drift-s": { type: "string", default: "60" },
    changed: { type: "string", default: "10" },
    /** Extra Node options for the controllers only, e.g. "--max-old-space-size=160". */
    "controller-node-options": { type: "string", default: "" },
    "keep-namespace": { type: "boolean", default: false },
    /** Run the controller from the sources through tsx (as the other benches do) instead of a tsc build (as the image does). */
    tsx: { type: "boolean", default: false },
  },
});
const N = Number(flags.vms);
const CONCURRENCY = Number(flags.concurrency);
const RESYNC_MS = Number(flags["resync-s"]) * 1000;
const DRIFT_MS = Number(flags["drift-s"]) * 1000;
const CHANGED = Number(flags.changed);
/** Above the seed's template 9000. */
const FIRST_VMID = 10_000;
const log = (line: string) => console.log(`[at-rest ${new Date().toISOString().slice(11, 19)}] ${line}`);

const progress = (label: string) => (done: number) => {
  if (done % 2000 === 0) log(`${label}: ${done}/${N}`);
};

async function timed<T>(label: string, task: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await task();
  log(`${label}: ${N} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until the reconcile count has not moved for `quietMs`; returns it. */
async function waitQuiet(metricsPort: number, quietMs: number, atLeast: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const count = await reconcileCount(`http://127.0.0.1:${metricsPort}`).catch(() => -1);
    if (count !== last) {
      last = count;
      since = Date.now();
    } else if (count >= atLeast && Date.now() - since >= quietMs) return count;
    if (Date.now() > deadline) throw new Error(`reconciles did not settle (at ${last}, waiting for ${atLeast})`);
    await sleep(250);
  }
}

async function readTally(file: string): Promise<RequestTally> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as RequestTally;
  } catch {
    return {};
  }
}

/** V8 heap used / total and external memory, MiB, from prom-client's default metrics. */
async function heapSummary(metricsUrl: string): Promise<string> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const value = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line ? `${(Number(line.split(" ")[1]) / 2 ** 20).toFixed(1)}` : "?";
  };
  return `used ${value("nodejs_heap_size_used_bytes")} MiB of ${value("nodejs_heap_size_total_bytes")} MiB, external ${value("nodejs_external_memory_bytes")} MiB`;
}

function callCounts(calls: readonly { method: string; route: string; count: number }[]): Record<string, number> {
  return Object.fromEntries(calls.map((c) => [`${c.method} ${c.route}`, c.count]));
}

/** ptm_drift_checks_total by result. */
async function driftChecks(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^ptm_drift_checks_total\{result="(\w+)"\} (\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

function diffCounts(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
}

/** Runs in the run queue (no worker takes them here): each would be a tofu process on a worker. */
async function queuedRuns(redisUrl: string, prefix: string): Promise<number> {
  const queue = new Queue(RUN_QUEUE, { connection: redisConnection(redisUrl), prefix });
  try {
    return sum(await queue.getJobCounts("waiting", "delayed", "prioritized", "active", "completed", "failed"));
  } finally {
    await queue.close();
  }
}

async function waitFor(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(500);
  }
}

async function main(): Promise<void> {
  const env = platformEnv();
  await ensureCrds();
  const { stdout } = await execFileAsync(env.TOFU_BIN, ["version", "-json"], { env: { ...(process.env as Record<string, string>), ...env } });
  const toolVersion = `tofu ${(JSON.parse(stdout) as { terraform_version: string }).terraform_version}`;
  const kc = platformKubeConfig();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = uniqueName("atrest");
  const id = randomBytes(4).toString("hex");
  const stateSchema = `atrest_${id}_state`;
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ptm-at-rest-"));
  const tallyFile = path.join(tmp, "requests.json");
  const cleanups: (() => Promise<unknown>)[] = [() => rm(tmp, { recursive: true, force: true })];
  try {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    if (!flags["keep-namespace"]) {
      cleanups.unshift(async () => {
        await deleteFleet(custom, namespace, CONCURRENCY);
        // The namespace's other objects stay too (no namespace controller): the connection would be checked for good.
        await custom.deleteNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_CONNECTION.plural, name: "pve" }).catch(() => undefined);
        await core.deleteNamespacedSecret({ namespace, name: "pve-token" }).catch(() => undefined);
        await core.deleteNamespace({ name: namespace });
      });
    }
    log(`namespace ${namespace}; ${N} VMs, ${CONCURRENCY} requests at once`);

    // 1. The ProxmoxVMs (with the finalizer a controller would have added): their uids name the simulator's VMs.
    const names = Array.from({ length: N }, (_, i) => `vm-${String(i).padStart(5, "0")}`);
    const vmIdOf = new Map(names.map((name, i) => [name, FIRST_VMID + i]));
    const created = await timed("create ProxmoxVMs", () => createFleet(custom, namespace, names, CONCURRENCY, progress("create ProxmoxVMs")));

    // 2. The simulator, seeded with one VM per ProxmoxVM, carrying its ownership tag (so no orphans).
    const sim = await startSimulator({
      port: 0,
      log: false,
      config: {
        ...DEFAULT_SEED,
        storages: DEFAULT_SEED.storages?.map((s) => (s.id === "local-lvm" ? { ...s, sizeGiB: 1_000_000 } : s)),
        vms: names.map((name, i) => ({
          vmid: FIRST_VMID + i,
          node: "pve1",
          status: "running" as const,
          config: { name, cores: 1, memory: 512, tags: `ptm-owner-${created.get(name)!.metadata.uid}`, scsi0: `local-lvm:vm-${FIRST_VMID + i}-disk-0,size=8G` },
        })),
      },
    });
    cleanups.unshift(() => sim.close());
    log(`simulator at ${sim.url} with ${N} VMs seeded`);

    // 3. The Secret and the connection, then each VM's status as after a successful apply.
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: "pve-token", labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } }, stringData: { token: `PVEAPIToken=${sim.token}` } },
    });
    await custom.createNamespacedCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      namespace,
      plural: PROXMOX_CONNECTION.plural,
      body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: PROXMOX_CONNECTION.kind, metadata: { name: "pve" }, spec: { endpoint: sim.url, tokenSecretRef: { name: "pve-token", key: "token" }, insecureSkipTLSVerify: true } },
    });
    const finishedAt = new Date().toISOString();
    await timed("write applied status", () =>
      inPool(
        names,
        CONCURRENCY,
        (name) => {
          // What a worker reads after an apply: the simulator's digest of the VM's config file.
          const observed = { configDigest: configDigest(sim.state().vms[vmIdOf.get(name)!]!), node: "pve1", powerState: "running", recordedAt: finishedAt };
          return writeAppliedStatus(custom, created.get(name)!, { endpoint: sim.url, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion, stateSchema, vmId: vmIdOf.get(name)!, finishedAt, observed });
        },
        progress("write applied status"),
      ),
    );

    // 4. The controller, counted.
    let entry: string[] | undefined;
    if (!flags.tsx) {
      const build = path.join(repoRoot, ".platform", `bench-build-${id}`);
      cleanups.push(() => rm(build, { recursive: true, force: true }));
      log("compiling the operator (tsc -p tsconfig.build.json)");
      await execFileAsync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", build], { cwd: repoRoot }).catch(async (error: { stdout?: string }) => {
        // tsc emits despite type errors (someone's edit in progress); only a missing output stops the bench.
        if (!(await stat(path.join(build, "src/main.js")).catch(() => undefined))) throw error;
        log(`tsc reported type errors (emitted anyway): ${(error.stdout ?? "").split("\n")[0]}`);
      });
      entry = [path.join(build, "src/main.js")];
    }
    const startController = async (label: string, driftInterval: string, resyncInterval: string) => {
      const port = await freePort();
      const logDir = path.join(tmp, label);
      await mkdir(logDir, { recursive: true });
      const process_ = new OperatorProcess(
        "controller",
        repoRoot,
        {
          ...(process.env as Record<string, string>),
          ...env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${flags["controller-node-options"]} --import=${path.join(repoRoot, "bench/support/request-counter.mjs")}`.trim(),
          PTM_BENCH_REQUEST_LOG: tallyFile,
          PTM_NAMESPACE: namespace,
          PTM_QUEUE_PREFIX: `atrest-${id}`,
          PTM_DB_SCHEMA: `atrest_${id}`,
          PTM_STATE_SCHEMA: stateSchema,
          PTM_LEADER_ELECTION: "false",
          PTM_RESYNC_INTERVAL: resyncInterval,
          PTM_DRIFT_INTERVAL: driftInterval,
          PTM_METRICS_PORT: String(port),
          PTM_LOG_LEVEL: "warn",
          PTM_PROVIDER_VERSION: env.PTM_PROVIDER_VERSION,
        },
        logDir,
        entry,
      );
      return { process: process_, port };
    };
    // The resync is measured with no drift check due (the seeded applies are minutes old, the interval 1 h).
    const first = await startController("controller", "1h", `${RESYNC_MS / 1000}s`);
    const controller = first.process;
    const metricsPort = first.port;
    cleanups.unshift(() => controller.stop());
    const startedAt = Date.now();
    const startupCount = await waitQuiet(metricsPort, 5000, N, 15 * 60_000);
    const startupCpu = readCpu(controller.pid);
    log(`start-up: ${startupCount} reconciles settled after ${((Date.now() - startedAt) / 1000).toFixed(1)} s; RSS ${mib(readMemory(controller.pid)?.rssKiB)} MiB`);
    const startupRequests = diffTally({}, await readTally(tallyFile));

    // 5. One full resync, measured from a quiet controller to a quiet controller.
    await sleep(1000);
    const before = { count: await reconcileCount(`http://127.0.0.1:${metricsPort}`), cpu: readCpu(controller.pid), tally: await readTally(tallyFile), sim: callCounts(sim.calls()) };
    log(`waiting for the next resync (every ${RESYNC_MS / 1000} s)`);
    const after = await waitQuiet(metricsPort, 3000, before.count + N, RESYNC_MS + 15 * 60_000);
    await sleep(1200); // the counter writes its tally every 0.5 s
    const cpu = diffCpu(before.cpu, readCpu(controller.pid));
    const memory = readMemory(controller.pid);
    const requests = diffTally(before.tally, await readTally(tallyFile));
    const simCalls = diffTally(before.sim, callCounts(sim.calls()));
    const kubeGets = requests.filter(([key]) => / GET /.test(key) && !key.endsWith("?watch") && /\{name\}/.test(key)).reduce((n, [, c]) => n + c, 0);

    console.log("");
    console.log(`# Controller at rest: ${N} ProxmoxVMs (applied), ${N} simulator VMs`);
    console.log(`start-up (initial list + ${startupCount} reconciles): CPU ${(startupCpu?.self ?? 0).toFixed(2)} s; requests ${startupRequests.reduce((n, [, c]) => n + c, 0)}`);
    for (const [key, n] of startupRequests.slice(0, 8)) console.log(`  ${String(n).padStart(6)}  ${key}`);
    console.log(`one resync: ${after - before.count} reconciles`);
    console.log(`  controller CPU: ${(cpu?.self ?? 0).toFixed(2)} s   target < 10`);
    console.log(`  controller RSS: ${mib(memory?.rssKiB)} MiB (peak ${mib(memory?.hwmKiB)} MiB)   target < 250 MB`);
    console.log(`  kube API requests: ${requests.reduce((n, [, c]) => n + c, 0)}; GETs of one object: ${kubeGets} (${(kubeGets / N).toFixed(4)} per VM)   target 0 per VM`);
    for (const [key, n] of requests) console.log(`    ${String(n).padStart(6)}  ${key}`);
    console.log(`  Proxmox API requests (simulator's call log): ${simCalls.reduce((n, [, c]) => n + c, 0)}`);
    for (const [key, n] of simCalls) console.log(`    ${String(n).padStart(6)}  ${key}`);
    console.log(`  controller heap (its /metrics): ${await heapSummary(`http://127.0.0.1:${metricsPort}`)}`);

    const logSummary = controller.summarizeLog();
    console.log(`  controller log: ${logSummary.warn} warn, ${logSummary.error} error lines${logSummary.samples.length ? `; first: ${logSummary.samples[0]}` : ""}`);
    await controller.stop();

    // 6. Drift sweeps, by a controller whose drift interval (DRIFT_MS) has passed for every VM:
    // its start-up reconciles make the first sweep; the two after it come DRIFT_MS later each.
    // (No resync during the sweeps: they are measured alone.)
    const drifting = await startController("controller-drift", `${DRIFT_MS / 1000}s`, "1h");
    cleanups.unshift(() => drifting.process.stop());
    const metricsUrl = `http://127.0.0.1:${drifting.port}`;
    log("second controller (drift checks due): waiting for its start-up sweep");
    await waitFor(async () => sum(await driftChecks(metricsUrl).catch(() => ({}))) >= N, 20 * 60_000);
    const sweep = async (label: string) => {
      const start = { checks: await driftChecks(metricsUrl), cpu: readCpu(drifting.process.pid), sim: callCounts(sim.calls()), queued: await queuedRuns(env.REDIS_URL, `atrest-${id}`), tally: await readTally(tallyFile) };
      log(`${label}: waiting for ${N} drift checks`);
      await waitFor(async () => sum(await driftChecks(metricsUrl)) >= sum(start.checks) + N, DRIFT_MS + 20 * 60_000);
      await sleep(1500);
      const checks = diffCounts(start.checks, await driftChecks(metricsUrl));
      const queued = (await queuedRuns(env.REDIS_URL, `atrest-${id}`)) - start.queued;
      const swept = diffTally(start.sim, callCounts(sim.calls()));
      const kube = diffTally(start.tally, await readTally(tallyFile)).filter(([key]) => !key.includes("/api2/"));
      const sweepCpu = diffCpu(start.cpu, readCpu(drifting.process.pid));
      console.log(`${label}: ${sum(checks)} drift checks ${JSON.stringify(checks)}; runs queued (each a tofu process): ${queued}`);
      console.log(`  controller CPU: ${(sweepCpu?.self ?? 0).toFixed(2)} s; RSS ${mib(readMemory(drifting.process.pid)?.rssKiB)} MiB`);
      console.log(`  Proxmox API requests: ${swept.reduce((n, [, c]) => n + c, 0)}`);
      for (const [key, n] of swept) console.log(`    ${String(n).padStart(6)}  ${key}`);
      console.log(`  kube API requests: ${kube.reduce((n, [, c]) => n + c, 0)}`);
      for (const [key, n] of kube.slice(0, 5)) console.log(`    ${String(n).padStart(6)}  ${key}`);
      return { checks, queued };
    };
    const quiet = await sweep("drift sweep, nothing changed");
    console.log(`  target: 0 runs queued (got ${quiet.queued}), < 30 CPU-s`);
    const changedNames = names.filter((_, i) => i % Math.floor(N / CHANGED) === 0).slice(0, CHANGED);
    for (const name of changedNames) sim.state().vms[vmIdOf.get(name)!]!.conf.memory = "1024"; // resized in the Proxmox UI
    const changed = await sweep(`drift sweep, ${changedNames.length} VMs changed on Proxmox`);
    console.log(`  target: exactly ${changedNames.length} runs queued (got ${changed.queued}; checks that found a change: ${changed.checks.changed ?? 0})`);
    const driftLog = drifting.process.summarizeLog();
    console.log(`  controller log: ${driftLog.warn} warn, ${driftLog.error} error lines${driftLog.samples.length ? `; first: ${driftLog.samples[0]}` : ""}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  }
}

await main();
