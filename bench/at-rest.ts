/**
 * The controller at rest (issue 13, "10,000 VMs at rest"; a script that prints numbers, not a test).
 *
 *   npx tsx bench/at-rest.ts [--vms 10000] [--concurrency 32] [--resync-s 90] [--tsx]
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
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, PROXMOX_CONNECTION } from "../src/api/group.js";
import { DEFAULT_SEED, startSimulator } from "../src/simulator/index.js";
import { createFleet, diffTally, inPool, reconcileCount, writeAppliedStatus, type RequestTally } from "../test/support/applied-fleet.js";
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
    "keep-namespace": { type: "boolean", default: false },
    /** Run the controller from the sources through tsx (as the other benches do) instead of a tsc build (as the image does). */
    tsx: { type: "boolean", default: false },
  },
});
const N = Number(flags.vms);
const CONCURRENCY = Number(flags.concurrency);
const RESYNC_MS = Number(flags["resync-s"]) * 1000;
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
    if (!flags["keep-namespace"]) cleanups.unshift(() => core.deleteNamespace({ name: namespace }));
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
        (name) => writeAppliedStatus(custom, created.get(name)!, { endpoint: sim.url, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion, stateSchema, vmId: vmIdOf.get(name)!, finishedAt }),
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
    const metricsPort = await freePort();
    const controller = new OperatorProcess(
      "controller",
      repoRoot,
      {
        ...(process.env as Record<string, string>),
        ...env,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${path.join(repoRoot, "bench/support/request-counter.mjs")}`.trim(),
        PTM_BENCH_REQUEST_LOG: tallyFile,
        PTM_NAMESPACE: namespace,
        PTM_QUEUE_PREFIX: `atrest-${id}`,
        PTM_DB_SCHEMA: `atrest_${id}`,
        PTM_STATE_SCHEMA: stateSchema,
        PTM_LEADER_ELECTION: "false",
        PTM_RESYNC_INTERVAL: `${RESYNC_MS / 1000}s`,
        PTM_METRICS_PORT: String(metricsPort),
        PTM_LOG_LEVEL: "warn",
        PTM_PROVIDER_VERSION: env.PTM_PROVIDER_VERSION,
      },
      tmp,
      entry,
    );
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
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  }
}

await main();
