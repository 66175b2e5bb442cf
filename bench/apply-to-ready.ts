/**
 * apply→Ready benchmark (a script that prints numbers, not a test).
 *
 *   npm run bench -- [--vms 1,50] [--concurrency 4] [--node-limits 2,8] [--skip-baseline]
 *
 * For each scenario size N it starts an isolated operator (controller and worker as two child
 * Node processes, own namespace, Redis prefix, database schemas, work directory and in-process
 * Proxmox VE simulator), `kubectl apply`s N ProxmoxVMs at once and measures the time until each
 * is Ready for generation 1. Then it runs bare `tofu init && tofu apply` of the same synthesized
 * stacks against a fresh simulator and reports the ratio, the Terraform runs and tofu processes
 * per VM, and the controller's and worker's peak RSS. See docs/benchmarks.md.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { redisConnection } from "../src/queue/redis-connection.js";
import { API_GROUP, API_VERSION, FINALIZER, PROXMOX_VM } from "../src/api/group.js";
import { ProxmoxVMSpecSchema } from "../src/api/proxmox-vm.js";
import type { ProxmoxVMObject } from "../src/kube/types.js";
import { DEFAULT_SEED, startSimulator, type SimulatorOptions } from "../src/simulator/index.js";
import { synthesizeVmStack } from "../src/synth/synthesize.js";
import { ensureCrds } from "../test/support/operator-harness.js";
import { kubectl as kubectlOnce, platformKubeConfig, uniqueName } from "../test/support/kube.js";
import { proxmoxVm } from "../test/support/manifests.js";
import { platformEnv, type PlatformEnv } from "../test/support/platform-env.js";
import { platformDir, repoRoot } from "../test/support/paths.js";
import { runBaseline, type BaselineResult, type BaselineVm } from "./support/baseline.js";
import { OperatorProcess, type LogSummary } from "./support/operator-process.js";
import { diffCpu, mib, readCpu, readMachineCpu, readMemory, RssSampler, type CpuTimes, type SampledPeaks } from "./support/proc.js";
import { seconds, summarize, table } from "./support/stats.js";

const execFileAsync = promisify(execFile);

const { values: flags } = parseArgs({
  options: {
    vms: { type: "string", default: "1,50" },
    concurrency: { type: "string", default: "4" },
    "node-limits": { type: "string", default: "2,8" },
    "skip-baseline": { type: "boolean", default: false },
    "task-ms": { type: "string", default: "0" },
    "boot-delay-ms": { type: "string", default: "0" },
    "timeout-min": { type: "string", default: "40" },
    "scenario-timeout-min": { type: "string", default: "12" },
    "log-level": { type: "string", default: "warn" },
    "storage-gib": { type: "string", default: "100000" },
    "plugin-cache": { type: "string", default: "platform" },
    "bare-plugin-cache": { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(`usage: npm run bench -- [options]
  --vms 1,50              scenario sizes (VMs applied at once)
  --concurrency 4         PTM_WORKER_CONCURRENCY of the worker (and the baseline's parallelism)
  --node-limits 2,8       ProxmoxConnection maxConcurrentJobsPerNode values to run (1-VM scenarios use the first)
  --skip-baseline         do not run bare tofu
  --task-ms 0             simulator: duration of every Proxmox task (clone, start, ...)
  --boot-delay-ms 0       simulator: VM start → guest agent answers
  --timeout-min 40        abort everything (and clean up) after this long
  --scenario-timeout-min 12  give up waiting for Ready in one scenario after this long
  --log-level warn        PTM_LOG_LEVEL of the operator processes
  --plugin-cache platform  the worker's PTM_PLUGIN_CACHE_DIR: "platform" (.platform/plugin-cache, shared with
                          everything else on the machine) or "scenario" (a fresh directory per scenario)
  --bare-plugin-cache     give the bare tofu runs the same TF_PLUGIN_CACHE_DIR (default: none, as with .platform/env)
  --storage-gib 100000    simulator: size of local-lvm (the default seed's 500 GiB holds only 24 of these 20 GiB VMs)
  --out FILE              JSON report path (default bench/results/apply-to-ready-<date>.json)`);
  process.exit(0);
}

if (flags["plugin-cache"] !== "platform" && flags["plugin-cache"] !== "scenario") throw new Error("--plugin-cache must be platform or scenario");
const sizes = list(flags.vms!);
const concurrency = Number(flags.concurrency);
const nodeLimits = list(flags["node-limits"]!);
/** The default seed (node pve1, template 9000, local-lvm), with local-lvm big enough for every scenario. */
const seed = {
  ...DEFAULT_SEED,
  storages: DEFAULT_SEED.storages?.map((s) => (s.id === "local-lvm" ? { ...s, sizeGiB: Number(flags["storage-gib"]) } : s)),
};
const simOptions: SimulatorOptions = {
  port: 0,
  config: seed,
  log: false,
  taskDurationMs: Number(flags["task-ms"]),
  bootDelayMs: Number(flags["boot-delay-ms"]),
  unauthorizedDelayMs: 0,
};
const POLL_MS = 250;
const resultsDir = path.join(repoRoot, "bench", "results");
const runStamp = new Date().toISOString().slice(0, 19).replaceAll(":", "-");
const SETTLE_MS = 5000;
const VM_LABEL = "ptm-bench/vm";
/** Ready reasons that mean something went wrong (the others are progress: Queued, Planning, Cloning, ...). */
const FAILURE_REASONS = new Set(["ApplyFailed", "LockTimeout", "InvalidSpec", "ConnectionNotFound", "SecretNotFound", "DriftDetected"]);

function list(text: string): number[] {
  const out = text.split(",").map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`not a list of positive integers: ${text}`);
  return out;
}

// --- cleanup and the overall deadline ------------------------------------------------------------

type CleanupStep = { name: string; run: () => Promise<unknown> };

/** Steps run in reverse order of registration, each bounded, errors reported but not fatal. */
class Cleanup {
  private readonly steps: CleanupStep[] = [];
  add(name: string, run: () => Promise<unknown>): void {
    this.steps.push({ name, run });
  }
  async run(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        // ref: false, so a finished step's pending timer does not keep the process alive.
        await Promise.race([step.run(), sleep(60_000, undefined, { ref: false }).then(() => Promise.reject(new Error("timed out after 60 s")))]);
      } catch (error) {
        console.error(`[bench] cleanup "${step.name}" failed: ${(error as Error).message}`);
      }
    }
  }
}

const abort = new AbortController();
const totalTimer = setTimeout(() => abort.abort(new Error(`total timeout of ${flags["timeout-min"]} min reached`)), Number(flags["timeout-min"]) * 60_000);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => abort.abort(new Error(`interrupted (${signal})`)));
}

/**
 * kubectl with retries for the API server's transient refusals: other users of the shared
 * platform re-apply the CRDs, and while a CRD's storage is re-created the API server answers
 * 429 "storage is (re)initializing".
 */
async function kubectl(args: string[], input?: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kubectlOnce(args, input);
    } catch (error) {
      if (attempt >= 10 || !isTransient(error)) throw error;
      await sleep(1000);
    }
  }
}

function isTransient(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error) + String((error as { body?: unknown })?.body ?? "");
  return /TooManyRequests|429|\(re\)initializing|ECONNREFUSED|ECONNRESET|socket hang up|ServiceUnavailable|503|etcdserver|timeout/i.test(text);
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

// --- the workload --------------------------------------------------------------------------------

const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0 ops@example";

function vmName(i: number): string {
  return `vm-${String(i).padStart(3, "0")}`;
}

/** One VM as the brief asks: clone of template 9000, cpu/memory/disk/network, cloud-init with a static IP, agent on. */
function vmManifest(i: number, extra: Record<string, unknown> = {}, labels: Record<string, string> = { [VM_LABEL]: "true" }) {
  return proxmoxVm(
    vmName(i),
    {
      cpu: { cores: 2 },
      memory: { dedicated: 2048 },
      disks: [{ interface: "scsi0", datastoreId: "local-lvm", size: 20 }],
      networkDevices: [{ bridge: "vmbr0", model: "virtio" }],
      initialization: {
        datastoreId: "local-lvm",
        userAccount: { username: "ops", keys: [SSH_KEY] },
        ipConfigs: [{ ipv4: { address: `10.20.${Math.floor(i / 200)}.${10 + (i % 200)}/16`, gateway: "10.20.0.1" } }],
        dns: { servers: ["10.20.0.53"], domain: "bench.example" },
      },
      agent: { enabled: true, timeout: "2m" },
      started: true,
      ...extra,
    },
    { labels },
  );
}

// --- one operator scenario -----------------------------------------------------------------------

interface VmObservation {
  name: string;
  readyMs?: number;
  vmIdMs?: number;
  /** Distinct Ready reasons seen, in order (e.g. Queued, ApplyFailed, Provisioned). */
  readyReasons: string[];
  sawFailedRun: boolean;
  last?: ProxmoxVMObject;
}

interface RunRow {
  name: string;
  spec_hash: string;
  action: string;
  status: string;
  reason: string;
  attempt: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  error: string | null;
  error_kind: string | null;
}

interface OperatorResult {
  scenario: string;
  vms: number;
  nodeLimit: number;
  concurrency: number;
  allReady: boolean;
  readyCount: number;
  /** kubectl apply started → kubectl apply returned. */
  kubectlApplySeconds: number | undefined;
  /** kubectl apply started → the last VM Ready (generation 1). */
  wallSeconds: number | undefined;
  /** Per VM: kubectl apply started → this VM Ready. */
  applyToReady: ReturnType<typeof summarize>;
  /** Per VM breakdown of its (last) run: apply → run started, run duration, run finished → Ready seen. */
  queueWait: ReturnType<typeof summarize>;
  runDuration: ReturnType<typeof summarize>;
  readyLag: ReturnType<typeof summarize>;
  runs: {
    /** Most runs (started..finished in the runs table) in progress at the same time. */
    maxConcurrent: number;
    /**
     * Sum of run durations / (first run start → last run end) / min(node limit, concurrency):
     * how busy the allowed run slots were (1 = a run in every slot all the time).
     */
    slotUtilization: number | undefined;
    total: number;
    perVm: { min: number; max: number; mean: number };
    byStatus: Record<string, number>;
    byReason: Record<string, number>;
    noChanges: number;
    /** VMs with more than one run: each run's reason, status and spec hash (to see why a second run was queued). */
    multiRunVms: { name: string; statusSpecHash?: string; runs: { reason: string; status: string; attempt: number; specHash: string; createdAt: string; finishedAt?: string; error?: string }[] }[];
    failed: { name: string; attempt: number; errorKind: string | null; error: string }[];
  };
  tofu: {
    /** tofu processes the worker started, by subcommand (from a counting wrapper). */
    bySubcommand: Record<string, number>;
    perVm: { min: number; max: number; mean: number };
    /** Not tied to a VM (the worker's start-up `tofu version`). */
    other: number;
    /** CPU seconds of tofu + provider processes per VM (the worker's reaped children). */
    cpuSecondsPerVm: number | undefined;
  };
  /** VMs whose stack, synthesized again here from spec + status.vmId, is byte-identical to the worker's main.tf.json. */
  stacksIdenticalToWorker: number;
  /** First differing line between the worker's main.tf.json and the re-synthesized stack, for a few VMs. */
  stackMismatches: { name: string; vmId: number; line: number; worker: string; resynthesized: string }[];
  proxmoxRequestsPerVm: number;
  unknownRoutes: number;
  memory: {
    controller: { hwmMiB?: number; endRssMiB?: number; sampled?: SampledPeaks };
    worker: { hwmMiB?: number; endRssMiB?: number; sampled?: SampledPeaks };
  };
  /**
   * CPU seconds from the apply to the end of the settle period. worker.children = tofu and its
   * providers; bench = this process (the simulator and the status polling); machine = everything
   * on the machine, other users' processes included (busy of busy+idle).
   */
  /** (controller + worker + tofu) CPU seconds / VMs: compare with the baseline's tofuCpuSecondsPerVm; much less sensitive to other load than wall time. */
  operatorCpuSecondsPerVm?: number;
  cpuSeconds: { controller?: CpuTimes; worker?: CpuTimes; bench?: CpuTimes; machine?: { busy: number; idle: number } };
  logs: { controller: LogSummary; worker: LogSummary };
  processExit: Record<string, unknown>;
  /** Where the operator's logs were copied (only when there were problems or log lines). */
  keptLogs?: string;
  /** os.loadavg() (1, 5, 15 min) when the apply started and when the last VM was Ready: other load on the machine skews the numbers. */
  loadAverage: { atApply: number[]; atReady: number[] };
  problems: string[];
  stuck: { name: string; readyReasons: string[]; status: unknown }[];
  /** For the baseline. */
  baselineVms: BaselineVm[];
}

async function runOperatorScenario(env: PlatformEnv, size: number, nodeLimit: number, toolVersion: string): Promise<OperatorResult> {
  const scenario = `${size} VM${size === 1 ? "" : "s"}, node limit ${nodeLimit}`;
  log(`operator scenario: ${scenario}, worker concurrency ${concurrency}`);
  const cleanup = new Cleanup();
  const id = randomBytes(4).toString("hex");
  const namespace = uniqueName(`bench${size}`);
  const prefix = `bench-${id}`;
  const dbSchema = `bench_${id}`;
  const stateSchema = `bench_${id}_state`;
  const signal = abort.signal;
  const problems: string[] = [];
  let collectLogs = async (): Promise<void> => undefined;
  let logs: OperatorResult["logs"] | undefined;
  let keptLogs: string | undefined;
  try {
    const tmp = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-"));
    cleanup.add("temp dir", () => rm(tmp, { recursive: true, force: true }));
    // Runs after the operator processes stopped and before the temp dir goes.
    cleanup.add("operator logs", () => collectLogs());
    const workRoot = path.join(tmp, "work");
    await mkdir(workRoot);
    const callsLog = path.join(tmp, "tofu-calls.log");
    const wrapper = path.join(tmp, "tofu");
    // Counts tofu processes: one line (work dir, subcommand) per start, then becomes tofu.
    await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\t%s\\n' "$PWD" "$1" >> '${callsLog}'\nexec '${env.TOFU_BIN}' "$@"\n`);
    await chmod(wrapper, 0o755);

    const sim = await startSimulator(simOptions);
    cleanup.add("simulator", () => sim.close());
    cleanup.add("database schemas", () => dropSchemas(env, [dbSchema, stateSchema]));
    cleanup.add("redis keys", () => deleteRedisKeys(env, prefix));
    await kubectl(["create", "namespace", namespace]);
    cleanup.add("namespace", () => kubectl(["delete", "namespace", namespace, "--wait=false"]));
    await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "pve-token", labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } }, stringData: { token: `PVEAPIToken=${sim.token}` } }));
    await kubectl(
      ["apply", "-n", namespace, "-f", "-"],
      JSON.stringify({
        apiVersion: `${API_GROUP}/${API_VERSION}`,
        kind: "ProxmoxConnection",
        metadata: { name: "pve" },
        spec: { endpoint: sim.url, tokenSecretRef: { name: "pve-token", key: "token" }, insecureSkipTLSVerify: true, maxConcurrentJobsPerNode: nodeLimit },
      }),
    );

    const childEnv: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...env,
      PTM_NAMESPACE: namespace,
      PTM_QUEUE_PREFIX: prefix,
      PTM_DB_SCHEMA: dbSchema,
      PTM_STATE_SCHEMA: stateSchema,
      PTM_LEADER_ELECTION: "false",
      PTM_WORKDIR_ROOT: workRoot,
      PTM_PLUGIN_CACHE_DIR: flags["plugin-cache"] === "scenario" ? path.join(tmp, "plugin-cache") : path.join(platformDir, "plugin-cache"),
      PTM_TERRAFORM_BIN: wrapper,
      PTM_WORKER_CONCURRENCY: String(concurrency),
      PTM_LOG_LEVEL: flags["log-level"]!,
      PTM_PROVIDER_VERSION: env.PTM_PROVIDER_VERSION,
    };
    const controller = new OperatorProcess("controller", repoRoot, childEnv, tmp);
    const worker = new OperatorProcess("worker", repoRoot, childEnv, tmp);
    collectLogs = async () => {
      logs = { controller: controller.summarizeLog(), worker: worker.summarizeLog() };
      if (problems.length || logs.controller.lines || logs.worker.lines) {
        const dir = path.join(resultsDir, `logs-${runStamp}`);
        await mkdir(dir, { recursive: true });
        for (const p of [controller, worker]) await copyFile(p.logFile, path.join(dir, `${namespace}-${p.role}.log`)).catch(() => undefined);
        keptLogs = path.relative(repoRoot, dir);
      }
    };
    const processExit: Record<string, unknown> = {};
    cleanup.add("operator processes", async () => {
      processExit.controller = await controller.stop();
      processExit.worker = await worker.stop();
    });

    // Ready when the worker is registered with BullMQ and the controller has reconciled a
    // suspended sentinel (it adds the finalizer before it looks at suspend).
    await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify({ ...vmManifest(999, { suspend: true }, {}), metadata: { name: "sentinel" } }));
    const queue = new Queue("runs", { connection: redisConnection(env.REDIS_URL), prefix });
    try {
      const started = Date.now();
      const kc = platformKubeConfig();
      const api = kc.makeApiClient(CustomObjectsApi);
      for (;;) {
        if (controller.exited || worker.exited) throw new Error(`operator exited during start-up: ${JSON.stringify({ controller: controller.exited, worker: worker.exited })}\n${tail(controller)}\n${tail(worker)}`);
        const workers = await queue.getWorkersCount();
        const sentinel = (await api
          .getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, name: "sentinel" })
          .catch((error: unknown) => {
            if (isTransient(error)) return undefined;
            throw error;
          })) as ProxmoxVMObject | undefined;
        if (workers > 0 && sentinel?.metadata.finalizers?.includes(FINALIZER)) break;
        if (Date.now() - started > 120_000) throw new Error(`operator not ready after 120 s (workers: ${workers})\n${tail(controller)}\n${tail(worker)}`);
        await sleep(250, undefined, { signal });
      }
      log(`operator ready after ${((Date.now() - started) / 1000).toFixed(1)} s (controller pid ${controller.pid}, worker pid ${worker.pid})`);
    } finally {
      await queue.close();
    }

    const sampler = new RssSampler({ controller: controller.pid, worker: worker.pid }, 500);
    sampler.start();
    cleanup.add("sampler", async () => sampler.stop());
    const cpuBefore = { controller: readCpu(controller.pid), worker: readCpu(worker.pid), bench: readCpu("self"), machine: readMachineCpu() };

    // --- measured: one kubectl apply of a List of N VMs, then poll until every one is Ready ---
    const manifests = Array.from({ length: size }, (_, i) => vmManifest(i));
    const loadAtApply = os.loadavg().map((n) => Math.round(n * 100) / 100);
    const t0 = Date.now();
    await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: manifests }));
    const tApplied = Date.now();
    log(`kubectl apply of ${size} VM(s) took ${((tApplied - t0) / 1000).toFixed(2)} s; waiting for Ready`);

    const observations = new Map<string, VmObservation>(manifests.map((m) => [m.metadata.name, { name: m.metadata.name, readyReasons: [], sawFailedRun: false }]));
    const api = platformKubeConfig().makeApiClient(CustomObjectsApi);
    const scenarioDeadline = Date.now() + Number(flags["scenario-timeout-min"]) * 60_000;
    let lastProgress = 0;
    const pollErrors: string[] = [];
    for (;;) {
      const now = Date.now();
      let listed: { items: ProxmoxVMObject[] };
      try {
        listed = (await api.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, labelSelector: `${VM_LABEL}=true` })) as { items: ProxmoxVMObject[] };
      } catch (error) {
        if (!isTransient(error)) throw error;
        pollErrors.push(`${new Date().toISOString()} ${String((error as Error).message ?? error).split("\n")[0]}`);
        listed = { items: [] };
      }
      for (const vm of listed.items) {
        const o = observations.get(vm.metadata.name);
        if (!o) continue;
        o.last = vm;
        const ready = vm.status?.conditions?.find((c) => c.type === "Ready");
        if (ready?.reason && o.readyReasons.at(-1) !== ready.reason) o.readyReasons.push(ready.reason);
        if (vm.status?.lastRun?.result === "failed") o.sawFailedRun = true;
        if (o.vmIdMs === undefined && vm.status?.vmId !== undefined) o.vmIdMs = now - t0;
        if (o.readyMs === undefined && ready?.status === "True" && vm.status?.observedGeneration === 1 && ready.observedGeneration === 1) o.readyMs = now - t0;
      }
      const readyCount = [...observations.values()].filter((o) => o.readyMs !== undefined).length;
      if (readyCount !== lastProgress && (size <= 5 || readyCount % 10 === 0 || readyCount === size)) log(`${readyCount}/${size} Ready after ${((now - t0) / 1000).toFixed(1)} s`);
      lastProgress = readyCount;
      if (readyCount === size) break;
      if (controller.exited || worker.exited) {
        problems.push(`operator process exited during the scenario: ${JSON.stringify({ controller: controller.exited, worker: worker.exited })}`);
        break;
      }
      if (now > scenarioDeadline) {
        problems.push(`only ${readyCount}/${size} VMs Ready after ${flags["scenario-timeout-min"]} min`);
        break;
      }
      await sleep(POLL_MS, undefined, { signal });
    }
    const loadAtReady = os.loadavg().map((n) => Math.round(n * 100) / 100);
    if (pollErrors.length) problems.push(`the API server refused ${pollErrors.length} status poll(s) transiently (e.g. ${pollErrors[0]}); Ready times may be late by up to that long`);
    const obs = [...observations.values()];
    const readyTimes = obs.flatMap((o) => (o.readyMs === undefined ? [] : [o.readyMs]));
    const allReady = readyTimes.length === size;
    log(allReady ? `all ${size} Ready after ${(Math.max(...readyTimes) / 1000).toFixed(2)} s; settling ${SETTLE_MS / 1000} s for stray runs` : `not all Ready: ${problems.join("; ")}`);

    // Runs started after Ready (e.g. a needless second run) show up in the counts.
    await sleep(SETTLE_MS, undefined, { signal });
    const cpuAfter = { controller: readCpu(controller.pid), worker: readCpu(worker.pid), bench: readCpu("self"), machine: readMachineCpu() };
    const memEnd = { controller: readMemory(controller.pid), worker: readMemory(worker.pid) };
    const peaks = sampler.stop();

    const runs = await queryRuns(env, dbSchema, namespace);
    const runsByVm = groupBy(runs, (r) => r.name);
    const lastRunOf = (name: string) => runsByVm.get(name)?.at(-1);
    const perVm = (f: (o: VmObservation, run: RunRow) => number | undefined) =>
      obs.flatMap((o) => {
        const run = lastRunOf(o.name);
        const v = run && o.readyMs !== undefined ? f(o, run) : undefined;
        return v === undefined || Number.isNaN(v) ? [] : [v];
      });

    const calls = await readFile(callsLog, "utf8").catch(() => "");
    const tofuBySub: Record<string, number> = {};
    const tofuByVm = new Map<string, number>();
    let tofuOther = 0;
    for (const line of calls.split("\n").filter(Boolean)) {
      const [dir = "", sub = ""] = line.split("\t");
      tofuBySub[sub] = (tofuBySub[sub] ?? 0) + 1;
      const base = path.basename(dir);
      if (base.startsWith(`${namespace}.`)) {
        const name = base.slice(namespace.length + 1).split(".")[0]!;
        tofuByVm.set(name, (tofuByVm.get(name) ?? 0) + 1);
      } else tofuOther++;
    }

    const baselineVms: BaselineVm[] = [];
    let stacksIdenticalToWorker = 0;
    const stackMismatches: OperatorResult["stackMismatches"] = [];
    const workdirs = await readdir(workRoot).catch(() => [] as string[]);
    for (const o of obs) {
      const vm = o.last;
      if (!vm?.status?.vmId) continue;
      const spec = ProxmoxVMSpecSchema.parse(vm.spec);
      baselineVms.push({ namespace, name: o.name, spec, vmId: vm.status.vmId });
      const again = synthesizeVmStack({ namespace, name: o.name, spec, vmId: vm.status.vmId, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion, stateSchema });
      const dir = workdirs.find((d) => d.startsWith(`${namespace}.${o.name}.`));
      const workerJson = dir ? await readFile(path.join(workRoot, dir, "main.tf.json"), "utf8").catch(() => undefined) : undefined;
      if (workerJson === again.json) stacksIdenticalToWorker++;
      else if (stackMismatches.length < 5) stackMismatches.push({ name: o.name, vmId: vm.status.vmId, ...firstDifference(workerJson ?? "(no main.tf.json)", again.json) });
    }
    if (stacksIdenticalToWorker !== baselineVms.length) problems.push(`only ${stacksIdenticalToWorker}/${baselineVms.length} re-synthesized stacks equal the worker's main.tf.json: the baseline does not apply exactly the operator's stacks`);

    const requests = sim.calls().reduce((sum, c) => sum + c.count, 0);
    const unknown = sim.unknownRoutes();
    if (unknown.length) problems.push(`the simulator answered ${unknown.length} request(s) with 501 (unknown route), e.g. ${unknown[0]!.method} ${unknown[0]!.path}`);
    const cpuController = diffCpu(cpuBefore.controller, cpuAfter.controller);
    const cpuWorker = diffCpu(cpuBefore.worker, cpuAfter.worker);
    const cpuBench = diffCpu(cpuBefore.bench, cpuAfter.bench);
    const stuck = obs.filter((o) => o.readyMs === undefined).map((o) => ({ name: o.name, readyReasons: o.readyReasons, status: o.last?.status }));
    const troubled = obs.filter((x) => x.sawFailedRun || x.readyReasons.some((r) => FAILURE_REASONS.has(r)));
    if (troubled.length) {
      problems.push(
        `${troubled.length} VM(s) showed a failure in status before Ready: ${troubled
          .slice(0, 5)
          .map((o) => `${o.name} (Ready reasons ${o.readyReasons.join(" → ")})`)
          .join(", ")}${troubled.length > 5 ? ", …" : ""}`,
      );
    }
    const failed = runs.filter((r) => r.status === "failed");
    if (failed.length) {
      const byError = countBy(failed, (r) => normalizeError(r.error ?? ""));
      const top = Object.entries(byError).sort((a, b) => b[1] - a[1]).slice(0, 5);
      problems.push(`${failed.length} failed run(s) in ${dbSchema}.runs over ${new Set(failed.map((r) => r.name)).size} VM(s); errors: ${top.map(([e, n]) => `${n}× ${e}`).join(" | ")}`);
    }
    const multi = [...runsByVm.entries()].filter(([, list]) => list.length > 1);
    if (multi.length) {
      problems.push(
        `${multi.length} VM(s) had more than one run: ${multi
          .slice(0, 6)
          .map(([name, list]) => `${name} (${list.map((r) => `${r.reason} ${r.status}`).join(" → ")})`)
          .join(", ")}${multi.length > 6 ? ", …" : ""}`,
      );
    }
    const perVmCounts = obs.map((o) => runsByVm.get(o.name)?.length ?? 0);
    const tofuPerVm = obs.map((o) => tofuByVm.get(o.name) ?? 0);

    const result: OperatorResult = {
      scenario,
      vms: size,
      nodeLimit,
      concurrency,
      allReady,
      readyCount: readyTimes.length,
      kubectlApplySeconds: seconds(tApplied - t0),
      wallSeconds: allReady ? seconds(Math.max(...readyTimes)) : undefined,
      applyToReady: summarize(readyTimes),
      queueWait: summarize(perVm((_, r) => (r.started_at ? r.started_at.getTime() - t0 : undefined))),
      runDuration: summarize(perVm((_, r) => (r.started_at && r.finished_at ? r.finished_at.getTime() - r.started_at.getTime() : undefined))),
      readyLag: summarize(perVm((o, r) => (r.finished_at ? t0 + o.readyMs! - r.finished_at.getTime() : undefined))),
      runs: {
        ...runConcurrency(runs, Math.min(nodeLimit, concurrency)),
        total: runs.length,
        perVm: minMaxMean(perVmCounts),
        byStatus: countBy(runs, (r) => r.status),
        byReason: countBy(runs, (r) => r.reason),
        noChanges: runs.filter((r) => r.status === "no_changes").length,
        multiRunVms: [...runsByVm.entries()]
          .filter(([, list]) => list.length > 1)
          .slice(0, 10)
          .map(([name, list]) => ({
            name,
            statusSpecHash: observations.get(name)?.last?.status?.specHash,
            runs: list.map((r) => ({
              reason: r.reason,
              status: r.status,
              attempt: r.attempt,
              specHash: r.spec_hash,
              createdAt: r.created_at.toISOString(),
              finishedAt: r.finished_at?.toISOString(),
              ...(r.error ? { error: r.error.slice(0, 300) } : {}),
            })),
          })),
        failed: failed.slice(0, 20).map((r) => ({ name: r.name, attempt: r.attempt, errorKind: r.error_kind, error: (r.error ?? "").slice(0, 800) })),
      },
      tofu: {
        bySubcommand: tofuBySub,
        perVm: minMaxMean(tofuPerVm),
        other: tofuOther,
        cpuSecondsPerVm: cpuWorker ? Math.round((cpuWorker.children / size) * 100) / 100 : undefined,
      },
      stacksIdenticalToWorker,
      stackMismatches,
      proxmoxRequestsPerVm: Math.round((requests / size) * 10) / 10,
      unknownRoutes: unknown.length,
      memory: {
        controller: { hwmMiB: mib(memEnd.controller?.hwmKiB), endRssMiB: mib(memEnd.controller?.rssKiB), sampled: peaks.controller },
        worker: { hwmMiB: mib(memEnd.worker?.hwmKiB), endRssMiB: mib(memEnd.worker?.rssKiB), sampled: peaks.worker },
      },
      cpuSeconds: {
        ...(cpuController ? { controller: cpuController } : {}),
        ...(cpuWorker ? { worker: cpuWorker } : {}),
        ...(cpuBench ? { bench: cpuBench } : {}),
        ...(cpuBefore.machine && cpuAfter.machine
          ? { machine: { busy: Math.round(cpuAfter.machine.busy - cpuBefore.machine.busy), idle: Math.round(cpuAfter.machine.idle - cpuBefore.machine.idle) } }
          : {}),
      },
      logs: { controller: controller.summarizeLog(), worker: worker.summarizeLog() },
      processExit,
      loadAverage: { atApply: loadAtApply, atReady: loadAtReady },
      problems,
      stuck,
      baselineVms,
    };
    const perVmCpu = operatorCpuPerVm(result);
    if (perVmCpu !== undefined) result.operatorCpuSecondsPerVm = perVmCpu;
    // Stop the processes now so their exit is part of the result and their logs are complete.
    await cleanup.run();
    if (logs) result.logs = logs;
    if (keptLogs) result.keptLogs = keptLogs;
    for (const [role, exit] of Object.entries(processExit)) {
      const e = exit as { code: number | null; killed: boolean };
      if (e.code !== 0 || e.killed) problems.push(`${role} did not stop cleanly on SIGTERM: ${JSON.stringify(exit)}`);
    }
    if (result.logs.worker.error || result.logs.controller.error) problems.push(`error lines in the logs: controller ${result.logs.controller.error}, worker ${result.logs.worker.error}`);
    return result;
  } finally {
    await cleanup.run();
  }
}

function tail(p: OperatorProcess): string {
  const s = p.summarizeLog(5);
  return `${p.role} log: ${s.samples.join("\n")}`;
}

// --- platform helpers ------------------------------------------------------------------------------


async function withPg<T>(env: PlatformEnv, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function dropSchemas(env: PlatformEnv, schemas: string[]): Promise<void> {
  return withPg(env, async (c) => {
    for (const s of schemas) await c.query(`drop schema if exists ${s} cascade`);
  });
}

function queryRuns(env: PlatformEnv, schema: string, namespace: string): Promise<RunRow[]> {
  return withPg(env, async (c) => {
    const { rows } = await c.query<RunRow>(
      `select name, spec_hash, action, status, reason, attempt, created_at, started_at, finished_at, error, error_kind from ${schema}.runs where namespace = $1 order by created_at, id`,
      [namespace],
    );
    return rows;
  });
}

async function deleteRedisKeys(env: PlatformEnv, prefix: string): Promise<number> {
  const redis = new Redis(env.REDIS_URL);
  let deleted = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
}

function firstDifference(a: string, b: string): { line: number; worker: string; resynthesized: string } {
  const la = a.split("\n");
  const lb = b.split("\n");
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  return { line: i + 1, worker: (la[i] ?? "(end)").trim().slice(0, 200), resynthesized: (lb[i] ?? "(end)").trim().slice(0, 200) };
}

function runConcurrency(runs: RunRow[], slots: number): { maxConcurrent: number; slotUtilization: number | undefined } {
  const spans = runs.flatMap((r) => (r.started_at && r.finished_at ? [[r.started_at.getTime(), r.finished_at.getTime()] as const] : []));
  if (!spans.length) return { maxConcurrent: 0, slotUtilization: undefined };
  const edges = spans.flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  const busy = spans.reduce((sum, [a, b]) => sum + (b - a), 0);
  const window = Math.max(...spans.map((x) => x[1])) - Math.min(...spans.map((x) => x[0]));
  return { maxConcurrent: max, slotUtilization: window > 0 ? Math.round((busy / window / slots) * 100) / 100 : undefined };
}

/** An error text with its ids, UPIDs and numbers blanked, so equal failures group together. */
function normalizeError(text: string): string {
  return text
    .replace(/UPID:[^"\s]+/g, "UPID")
    .replace(/\d+/g, "N")
    .replace(/\s+/g, " ")
    .slice(0, 200);
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    out.set(k, [...(out.get(k) ?? []), item]);
  }
  return out;
}

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

function minMaxMean(values: number[]): { min: number; max: number; mean: number } {
  if (!values.length) return { min: 0, max: 0, mean: 0 };
  return { min: Math.min(...values), max: Math.max(...values), mean: Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100 };
}

/** `tofu init` once before anything is measured, so the first scenario does not pay for a cold page cache. */
async function warmUp(env: PlatformEnv, toolVersion: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-warm-"));
  try {
    const spec = ProxmoxVMSpecSchema.parse(vmManifest(0).spec);
    const stack = synthesizeVmStack({ namespace: "warm", name: "up", spec, vmId: 100, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion, stateSchema: "bench_warmup" });
    // The backend is not initialised (-backend=false): only the provider is installed.
    await writeFile(path.join(dir, "main.tf.json"), stack.json);
    await execFileAsync(env.TOFU_BIN, ["init", "-backend=false", "-input=false", "-no-color"], {
      cwd: dir,
      env: { ...(process.env as Record<string, string>), ...env, CHECKPOINT_DISABLE: "1" },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function platformUp(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(repoRoot, "scripts/platform"), ["up"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/platform up exited with ${code}`))));
  });
}

// --- report ----------------------------------------------------------------------------------------

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : Math.round((a / b) * 100) / 100;
}

function findBaseline(baselines: BaselineResult[], vms: number, parallelism: number): BaselineResult | undefined {
  return baselines.find((b) => b.vms === vms && b.parallelism === parallelism && b.ok);
}

/** CPU seconds per VM the operator spent: controller + worker + the tofu/provider processes it ran. */
function operatorCpuPerVm(o: OperatorResult): number | undefined {
  const c = o.cpuSeconds;
  if (!c.controller || !c.worker) return undefined;
  return Math.round(((c.controller.self + c.worker.self + c.worker.children) / o.vms) * 100) / 100;
}

function printReport(report: { machine: Record<string, unknown>; settings: Record<string, unknown>; code: { commit: string; uncommittedFilesInSrc: number } }, operator: OperatorResult[], baselines: BaselineResult[]): void {
  const out: string[] = [];
  if (operator.length === 0) {
    console.log("\nno scenario finished: nothing to report");
    return;
  }
  const bareFor = (o: OperatorResult) => (o.vms === 1 ? findBaseline(baselines, 1, 1) : findBaseline(baselines, o.vms, concurrency));
  out.push("");
  out.push(`apply→Ready benchmark — ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB; ${report.machine.node}, ${report.settings.tool}, bpg/proxmox ${report.settings.providerVersion}`);
  out.push(`code: ${report.code.commit} + ${report.code.uncommittedFilesInSrc} uncommitted file(s) under src/ and stacks/; stacks re-synthesized = worker's main.tf.json: ${operator.map((o) => `${o.stacksIdenticalToWorker}/${o.vms}`).join(", ")}`);
  out.push(`worker concurrency ${concurrency}; simulator task ${simOptions.taskDurationMs} ms, boot delay ${simOptions.bootDelayMs} ms; operator roles as child processes (node --import tsx)`);
  out.push("");
  out.push("Operator vs bare tofu (seconds; ratio = operator / bare)");
  out.push(
    table(
      ["scenario", "ready", "wall", "p50", "p95", "bare wall", "bare par", "ratio wall", "bare p50", "ratio p50", "runs/VM", "no_changes", "failed", "tofu/VM", "ctrl HWM MiB", "worker HWM MiB", "worker+tofu MiB"],
      operator.map((o) => {
        const bare = bareFor(o);
        return [
          o.scenario,
          `${o.readyCount}/${o.vms}`,
          o.wallSeconds,
          o.applyToReady.p50,
          o.applyToReady.p95,
          bare?.wallSeconds,
          bare?.parallelism,
          ratio(o.wallSeconds, bare?.wallSeconds),
          bare?.completion.p50,
          ratio(o.applyToReady.p50, bare?.completion.p50),
          o.runs.perVm.mean,
          o.runs.noChanges,
          o.runs.byStatus.failed ?? 0,
          o.tofu.perVm.mean,
          o.memory.controller.hwmMiB,
          o.memory.worker.hwmMiB,
          mib(o.memory.worker.sampled?.maxTreeRssKiB),
        ];
      }),
    ),
  );
  out.push("");
  out.push("Where the operator's time goes (per VM, seconds: p50 / p95)");
  out.push(
    table(
      ["scenario", "kubectl apply", "apply→run start", "run (init..output)", "run end→Ready seen", "tofu CPU s/VM", "op CPU s/VM", "bare CPU s/VM", "CPU ratio", "ctrl CPU s", "worker CPU s", "bench CPU s", "machine busy/idle s", "PVE req/VM", "max runs at once", "slot use", "load1 at start"],
      operator.map((o) => [
        o.scenario,
        o.kubectlApplySeconds,
        `${o.queueWait.p50 ?? "-"} / ${o.queueWait.p95 ?? "-"}`,
        `${o.runDuration.p50 ?? "-"} / ${o.runDuration.p95 ?? "-"}`,
        `${o.readyLag.p50 ?? "-"} / ${o.readyLag.p95 ?? "-"}`,
        o.tofu.cpuSecondsPerVm,
        operatorCpuPerVm(o),
        bareFor(o)?.tofuCpuSecondsPerVm,
        ratio(operatorCpuPerVm(o), bareFor(o)?.tofuCpuSecondsPerVm),
        o.cpuSeconds.controller?.self,
        o.cpuSeconds.worker?.self,
        o.cpuSeconds.bench?.self,
        o.cpuSeconds.machine ? `${o.cpuSeconds.machine.busy} / ${o.cpuSeconds.machine.idle}` : undefined,
        o.proxmoxRequestsPerVm,
        o.runs.maxConcurrent,
        o.runs.slotUtilization,
        o.loadAverage.atApply[0],
      ]),
    ),
  );
  if (baselines.length) {
    out.push("");
    out.push("Bare tofu init && tofu apply (seconds; completion = batch start → this VM applied)");
    out.push(
      table(
        ["VMs", "parallel", "ok", "wall", "completion p50", "completion p95", "init+ws p50", "apply p50", "per VM p95", "tofu/VM", "retries", "tofu CPU s/VM", "machine busy/idle s"],
        baselines.map((b) => [
          b.vms,
          b.parallelism,
          b.ok ? "yes" : `no (${b.failures.length} failed)`,
          b.wallSeconds,
          b.completion.p50,
          b.completion.p95,
          b.init.p50,
          b.apply.p50,
          b.perVmDuration.p95,
          b.tofuInvocationsPerVm,
          b.retries.length,
          b.tofuCpuSecondsPerVm,
          b.machineCpu ? `${b.machineCpu.busy} / ${b.machineCpu.idle}` : undefined,
        ]),
      ),
    );
    for (const b of baselines) {
      const byError = countBy(b.retries, (r) => `${r.step}: ${normalizeError(r.error)}`);
      for (const [e, n] of Object.entries(byError)) out.push(`  bare ${b.vms} VMs × ${b.parallelism}: retried ${n}× ${e}`);
      for (const f of b.failures.slice(0, 3)) out.push(`  bare ${b.vms} VMs × ${b.parallelism}: FAILED ${f.name} ${f.step}: ${f.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 300)}`);
    }
  }
  const extra = operator.flatMap((o) =>
    o.vms > 1 && o.nodeLimit < concurrency
      ? [
          `${o.scenario}: only ${o.nodeLimit} runs may touch node pve1 at once, so the worker's ${concurrency} slots are not all used;` +
            ` bare tofu at parallelism ${o.nodeLimit}: ${findBaseline(baselines, o.vms, o.nodeLimit)?.wallSeconds ?? "-"} s (ratio ${ratio(o.wallSeconds, findBaseline(baselines, o.vms, o.nodeLimit)?.wallSeconds) ?? "-"})`,
        ]
      : [],
  );
  if (extra.length) out.push("", ...extra);
  const problems = operator.flatMap((o) => o.problems.map((p) => `${o.scenario}: ${p}`));
  out.push("", problems.length ? `Problems seen:\n  ${problems.join("\n  ")}` : "Problems seen: none (no failed runs, no warn/error log lines, every VM Ready once)");
  for (const o of operator) {
    for (const st of o.stuck.slice(0, 3)) {
      const status = st.status as { conditions?: { type: string; reason?: string; message?: string }[]; lastRun?: { result?: string } } | undefined;
      const ready = status?.conditions?.find((c) => c.type === "Ready");
      out.push(`  ${o.scenario}: ${st.name} not Ready — ${ready?.reason ?? "no Ready condition"}: ${(ready?.message ?? "").slice(0, 300)}`);
    }
    if (o.stuck.length > 3) out.push(`  ${o.scenario}: … and ${o.stuck.length - 3} more not Ready (statuses in the JSON report)`);
    if (o.keptLogs) out.push(`  ${o.scenario}: operator logs kept in ${o.keptLogs}`);
    const lines = [...o.logs.controller.samples.map((s) => `controller: ${s}`), ...o.logs.worker.samples.map((s) => `worker: ${s}`)];
    if (lines.length) out.push(`  ${o.scenario} log lines at warn/error:`, ...lines.slice(0, 10).map((l) => `    ${l.slice(0, 300)}`));
  }
  console.log(out.join("\n"));
}

// --- main --------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date();
  log("scripts/platform up");
  await platformUp();
  const env = platformEnv();
  await ensureCrds();
  const { stdout } = await execFileAsync(env.TOFU_BIN, ["version", "-json"], { env: { ...(process.env as Record<string, string>), ...env } });
  const toolVersionNumber = (JSON.parse(stdout) as { terraform_version: string }).terraform_version;
  const toolVersion = `tofu ${toolVersionNumber}`;
  await warmUp(env, toolVersion);

  const git = await execFileAsync("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"]).then((r) => r.stdout.trim(), () => "unknown");
  const dirty = await execFileAsync("git", ["-C", repoRoot, "status", "--porcelain", "--", "src", "stacks"]).then((r) => r.stdout.split("\n").filter(Boolean).length, () => -1);
  const report = {
    benchmark: "apply-to-ready",
    /** The operator code measured: HEAD plus this many uncommitted changes under src/ and stacks/. */
    code: { commit: git, uncommittedFilesInSrc: dirty },
    startedAt: startedAt.toISOString(),
    finishedAt: "",
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      kernel: os.release(),
    },
    settings: {
      sizes,
      concurrency,
      nodeLimits,
      simulator: {
        taskDurationMs: simOptions.taskDurationMs,
        bootDelayMs: simOptions.bootDelayMs,
        unauthorizedDelayMs: simOptions.unauthorizedDelayMs,
        seed: `default seed, local-lvm ${flags["storage-gib"]} GiB`,
      },
      logLevel: flags["log-level"],
      operatorPluginCache: flags["plugin-cache"] === "scenario" ? "per scenario" : path.join(platformDir, "plugin-cache"),
      barePluginCache: flags["bare-plugin-cache"] ? path.join(platformDir, "plugin-cache") : "none",
      tool: toolVersion,
      providerVersion: env.PTM_PROVIDER_VERSION,
      skipBaseline: flags["skip-baseline"],
      pollMs: POLL_MS,
      rssSampleMs: 500,
    },
    operator: [] as Omit<OperatorResult, "baselineVms">[],
    baseline: [] as BaselineResult[],
    error: undefined as string | undefined,
  };
  const operatorResults: OperatorResult[] = [];
  let exitCode = 0;
  try {
    for (const size of sizes) {
      const limits = size === 1 ? nodeLimits.slice(0, 1) : nodeLimits;
      let vmsForBaseline: BaselineVm[] | undefined;
      for (const limit of limits) {
        const result = await runOperatorScenario(env, size, limit, toolVersion);
        operatorResults.push(result);
        if (!result.allReady) exitCode = 1;
        if (result.baselineVms.length === size) vmsForBaseline ??= result.baselineVms;
      }
      if (flags["skip-baseline"]) continue;
      if (!vmsForBaseline) {
        log(`no baseline for ${size} VMs: the operator did not give every VM an id`);
        continue;
      }
      const parallelisms = size === 1 ? [1] : [...new Set([concurrency, ...limits.map((l) => Math.min(l, concurrency))])].sort((a, b) => b - a);
      for (const parallelism of parallelisms) {
        log(`baseline: bare tofu init && apply, ${size} VM(s), ${parallelism} at a time`);
        const b = await runBaseline({
          vms: vmsForBaseline,
          parallelism,
          env,
          simulator: simOptions,
          providerVersion: env.PTM_PROVIDER_VERSION,
          toolVersion,
          ...(flags["bare-plugin-cache"] ? { pluginCacheDir: path.join(platformDir, "plugin-cache") } : {}),
          signal: abort.signal,
        });
        log(`baseline done in ${b.wallSeconds} s${b.ok ? "" : ` — FAILED: ${b.failures.map((f) => `${f.name} ${f.step}: ${f.stderr.slice(-300)}`).join(" | ")}`}`);
        report.baseline.push(b);
      }
    }
  } catch (error) {
    const cause = abort.signal.aborted ? (abort.signal.reason as Error) : (error as Error);
    report.error = `${cause.message}\n${(error as Error).stack ?? String(error)}`;
    log(`aborted: ${cause.message}`);
    exitCode = 2;
  } finally {
    clearTimeout(totalTimer);
  }
  report.operator = operatorResults.map(({ baselineVms: _, ...rest }) => rest);
  report.finishedAt = new Date().toISOString();
  printReport(report, operatorResults, report.baseline);
  const outFile = flags.out ?? path.join(resultsDir, `apply-to-ready-${runStamp}.json`);
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON report: ${path.relative(process.cwd(), outFile)}`);
  return exitCode;
}

process.exitCode = await main();
// Lingering handles (Redis/pg/simulator sockets) must not keep a finished benchmark alive.
setTimeout(() => process.exit(process.exitCode), 1000).unref();
