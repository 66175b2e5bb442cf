/**
 * What one VM's run costs in tofu, next to bare tofu (a script that prints numbers, not a test).
 *
 *   npx tsx bench/run-cost.ts [--vms 50] [--concurrency 2] [--sequential 5]
 *
 * Needs the platform (`scripts/platform up`): PostgreSQL for state, the tofu binary and the
 * provider mirror. Proxmox is the in-process simulator (no task or boot delays), so the numbers
 * are tofu's and the provider's own cost. Scenarios, each against a fresh simulator and state schema:
 *
 * - sequential: `--sequential` VMs created one after another, then each applied again unchanged:
 *   bare `tofu init && tofu workspace select -or-create && tofu apply -auto-approve` in a fresh
 *   directory per VM, vs the runner (`prepare` + `applyAuto`: a shared initialised data
 *   directory and one tofu process) without and with provider servers;
 * - fleet: `--vms` VMs at `--concurrency`, bare per-VM runs vs the runner with provider servers
 *   (per-VM state kept), vs one monolithic configuration holding all of them (`-parallelism=10`).
 *
 * CPU seconds are those of the child processes (tofu, providers and provider servers, reaped
 * before reading); this process (and the simulator inside it) is not counted.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import { inheritedEnvironment } from "../src/config/env.js";
import { ProxmoxVMSpecSchema } from "../src/api/proxmox-vm.js";
import { DEFAULT_SEED, startSimulator, type RunningSimulator } from "../src/simulator/index.js";
import { synthesizeVmStack } from "../src/synth/synthesize.js";
import { DEFAULT_INHERIT_ENV, ProviderServers, TerraformRunner, type RunOptions, type TerraformEvent } from "../src/terraform/index.js";
import { dropSchemas } from "../test/support/platform-data.js";
import { platformEnv } from "../test/support/platform-env.js";
import { readCpu } from "./support/proc.js";
import { pool, table } from "./support/stats.js";

const execFileAsync = promisify(execFile);
const { values: flags } = parseArgs({
  options: {
    vms: { type: "string", default: "50" },
    concurrency: { type: "string", default: "2" },
    sequential: { type: "string", default: "5" },
  },
});
const FLEET = Number(flags.vms);
const CONCURRENCY = Number(flags.concurrency);
const SEQUENTIAL = Number(flags.sequential);
const env = platformEnv();
const PROVIDER_VERSION = env.PTM_PROVIDER_VERSION;
const spec = ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, memory: { dedicated: 1024 } });

interface Measured {
  wallS: number;
  cpuS: number;
  tofuProcesses: number;
  providerStarts?: number;
}

function pgConnStr(): string {
  const url = new URL(env.DATABASE_URL);
  url.searchParams.set("sslmode", "disable");
  return url.toString();
}

function stackFor(name: string, vmId: number, stateSchema: string, memory = 1024): string {
  return synthesizeVmStack({
    namespace: "bench",
    name,
    spec: { ...spec, memory: { dedicated: memory } },
    vmId,
    providerVersion: PROVIDER_VERSION,
    toolVersion: `tofu ${env.PTM_TOFU_VERSION}`,
    stateSchema,
  }).json;
}

async function simulator(): Promise<RunningSimulator> {
  return startSimulator({
    config: DEFAULT_SEED,
    unauthorizedDelayMs: 0,
    taskDurationMs: 0,
    bootDelayMs: 0,
    log: false,
  });
}

function childrenCpu(): number {
  return readCpu("self")?.children ?? 0;
}

/** Runs `fn` and measures wall time and the CPU of children reaped by the end (`settle` reaps long-lived ones). */
async function measure(fn: () => Promise<{ tofuProcesses: number; providerStarts?: number }>, settle?: () => Promise<void>): Promise<Measured> {
  const cpuBefore = childrenCpu();
  const started = performance.now();
  const counts = await fn();
  const wallS = (performance.now() - started) / 1000;
  await settle?.();
  await sleep(200); // Let libuv reap the last children.
  return { wallS, cpuS: childrenCpu() - cpuBefore, ...counts };
}

function bareEnv(sim: RunningSimulator): Record<string, string> {
  return {
    ...inheritedEnvironment(DEFAULT_INHERIT_ENV),
    TF_IN_AUTOMATION: "1",
    CHECKPOINT_DISABLE: "1",
    TF_CLI_CONFIG_FILE: env.TF_CLI_CONFIG_FILE,
    PG_CONN_STR: pgConnStr(),
    PROXMOX_VE_ENDPOINT: sim.url,
    PROXMOX_VE_API_TOKEN: sim.token,
    PROXMOX_VE_INSECURE: "true",
  };
}

/** Bare tofu: a fresh directory per VM, init + workspace select -or-create + apply -auto-approve. */
async function bareRun(root: string, childEnv: Record<string, string>, name: string, configJson: string): Promise<number> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "main.tf.json"), configJson);
  const tofu = (args: string[]) => execFileAsync(env.TOFU_BIN, args, { cwd: dir, env: childEnv, maxBuffer: 64 << 20 });
  // The pg backend's races on a fresh schema and its one-shot workspace-creation lock: what any
  // script running VMs side by side has to retry too.
  const retrying = async (args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await tofu(args);
      } catch (error) {
        const stderr = String((error as { stderr?: string }).stderr);
        if (attempt >= 20 || !/already locked for workspace\s+creation|duplicate key value violates unique constraint|already exists/i.test(stderr)) throw error;
        await sleep(100 * attempt);
      }
    }
  };
  await retrying(["init", "-input=false"]);
  await retrying(["workspace", "select", "-or-create", `bench.${name}`]);
  // Every state lock in the pg backend also takes the schema's workspace-creation lock for a
  // moment, so side-by-side applies need a lock timeout (the worker uses 90 s).
  await retrying(["apply", "-auto-approve", "-input=false", "-lock-timeout=60s"]);
  return 3;
}

function runnerRun(sim: RunningSimulator, name: string, configJson: string, events: TerraformEvent[]): RunOptions {
  return {
    workdirName: name,
    configJson,
    workspace: `bench.${name}`,
    env: { PG_CONN_STR: pgConnStr(), PROXMOX_VE_ENDPOINT: sim.url, PROXMOX_VE_API_TOKEN: sim.token, PROXMOX_VE_INSECURE: "true" },
    secrets: [sim.token],
    timeoutMs: 600_000,
    onEvent: (e) => events.push(e),
  };
}

const tofuCommands = (events: TerraformEvent[]) => events.filter((e) => e.type === "command").length;

async function withScenario<T>(fn: (sim: RunningSimulator, schema: string, root: string) => Promise<T>): Promise<T> {
  const sim = await simulator();
  const schema = `bench_cost_${randomBytes(4).toString("hex")}`;
  const root = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-cost-"));
  try {
    return await fn(sim, schema, root);
  } catch (error) {
    console.error(`scenario failed: ${(error as Error).message}\n${String((error as { stderr?: string }).stderr ?? "").slice(-2000)}`);
    throw error;
  } finally {
    await sim.close();
    await rm(root, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
    await dropSchemas(schema);
  }
}

/** Creates `count` VMs one after another, then applies each again unchanged; per-run averages. */
async function sequential(kind: "bare" | "runner" | "runner+servers"): Promise<{ create: Measured; noChange: Measured }> {
  return withScenario(async (sim, schema, root) => {
    const names = Array.from({ length: SEQUENTIAL }, (_, i) => `seq-${i}`);
    const servers = kind === "runner+servers" ? new ProviderServers({ baseEnv: inheritedEnvironment(DEFAULT_INHERIT_ENV), idleMs: 600_000 }) : undefined;
    const runner = new TerraformRunner({
      binary: env.TOFU_BIN,
      flavor: "tofu",
      workdirRoot: path.join(root, "work"),
      cliConfigFile: env.TF_CLI_CONFIG_FILE,
      lockTimeout: "60s",
      ...(servers ? { providerServers: servers } : {}),
    });
    const childEnv = bareEnv(sim);
    const once = async (name: string, i: number) => {
      const configJson = stackFor(name, 200 + i, schema);
      if (kind === "bare") return { tofuProcesses: await bareRun(root, childEnv, name, configJson) };
      const events: TerraformEvent[] = [];
      const run = runnerRun(sim, name, configJson, events);
      await runner.prepare(run);
      await runner.applyAuto(run);
      return { tofuProcesses: tofuCommands(events) };
    };
    // The first VM of a worker pays its init (and its first provider server): warm up with it.
    await once("warm-up", 199);
    const startsAfterWarmUp = servers?.startedCount ?? 0;
    const all = async () => {
      let processes = 0;
      for (const [i, name] of names.entries()) processes += (await once(name, i)).tofuProcesses;
      return { tofuProcesses: processes, ...(servers ? { providerStarts: servers.startedCount - startsAfterWarmUp } : {}) };
    };
    const create = await measure(all);
    const noChange = await measure(all, async () => servers?.stopAll());
    const per = (m: Measured): Measured => ({ ...m, wallS: m.wallS / SEQUENTIAL, cpuS: m.cpuS / SEQUENTIAL, tofuProcesses: m.tofuProcesses / SEQUENTIAL });
    return { create: per(create), noChange: per(noChange) };
  });
}

async function fleet(kind: "bare" | "runner+servers" | "monolithic"): Promise<Measured> {
  return withScenario(async (sim, schema, root) => {
    const names = Array.from({ length: FLEET }, (_, i) => `fleet-${i}`);
    const childEnv = bareEnv(sim);
    if (kind === "monolithic") {
      const merged: Record<string, unknown> = {};
      const resources: Record<string, unknown> = {};
      for (const [i, name] of names.entries()) {
        const stack = JSON.parse(stackFor(name, 300 + i, schema)) as { terraform: unknown; provider: unknown; resource: { proxmox_virtual_environment_vm: { vm: unknown } } };
        merged.terraform = stack.terraform;
        merged.provider = stack.provider;
        resources[`vm_${i}`] = stack.resource.proxmox_virtual_environment_vm.vm;
      }
      merged.resource = { proxmox_virtual_environment_vm: resources };
      const dir = path.join(root, "monolith");
      await mkdir(dir);
      await writeFile(path.join(dir, "main.tf.json"), JSON.stringify(merged));
      return measure(async () => {
        const tofu = (args: string[]) => execFileAsync(env.TOFU_BIN, args, { cwd: dir, env: childEnv, maxBuffer: 64 << 20 });
        await tofu(["init", "-input=false"]);
        await tofu(["workspace", "select", "-or-create", "bench.monolith"]);
        await tofu(["apply", "-auto-approve", "-input=false", "-lock-timeout=60s", "-parallelism=10"]);
        return { tofuProcesses: 3 };
      });
    }
    if (kind === "bare") {
      return measure(async () => {
        const counts = await pool(names, CONCURRENCY, (name, i) => bareRun(root, childEnv, name, stackFor(name, 300 + i, schema)));
        return { tofuProcesses: counts.reduce((a, b) => a + b, 0) };
      });
    }
    const servers = new ProviderServers({ baseEnv: inheritedEnvironment(DEFAULT_INHERIT_ENV), idleMs: 600_000 });
    const runner = new TerraformRunner({ binary: env.TOFU_BIN, flavor: "tofu", workdirRoot: path.join(root, "work"), cliConfigFile: env.TF_CLI_CONFIG_FILE, lockTimeout: "60s", providerServers: servers });
    return measure(
      async () => {
        const counts = await pool(names, CONCURRENCY, async (name, i) => {
          const events: TerraformEvent[] = [];
          const run = runnerRun(sim, name, stackFor(name, 300 + i, schema), events);
          await runner.prepare(run);
          await runner.applyAuto(run);
          return tofuCommands(events);
        });
        return { tofuProcesses: counts.reduce((a, b) => a + b, 0), providerStarts: servers.startedCount };
      },
      async () => servers.stopAll(),
    );
  });
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined ? "-" : n.toFixed(digits));
const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;

const seq = {
  bare: await sequential("bare"),
  runner: await sequential("runner"),
  servers: await sequential("runner+servers"),
};
console.log(`\nOne VM at a time (${SEQUENTIAL} VMs after a warm-up VM; per run):`);
console.log(
  table(
    ["", "create wall s", "create CPU s", "no-change wall s", "no-change CPU s", "tofu processes", "provider starts", "wall vs bare", "CPU vs bare"],
    [
      ["bare init+select+apply", fmt(seq.bare.create.wallS), fmt(seq.bare.create.cpuS), fmt(seq.bare.noChange.wallS), fmt(seq.bare.noChange.cpuS), fmt(seq.bare.create.tofuProcesses, 0), "-", "×1.00", "×1.00"],
      ...(["runner", "servers"] as const).map((k) => {
        const m = seq[k];
        const cpu = m.create.cpuS + m.noChange.cpuS;
        const bareCpu = seq.bare.create.cpuS + seq.bare.noChange.cpuS;
        return [
          k === "runner" ? "runner: shared init, 1 process" : "runner + provider servers",
          fmt(m.create.wallS),
          fmt(m.create.cpuS),
          fmt(m.noChange.wallS),
          fmt(m.noChange.cpuS),
          fmt(m.create.tofuProcesses, 0),
          k === "servers" ? String((m.create.providerStarts ?? 0) + (m.noChange.providerStarts ?? 0)) : "-",
          ratio(m.create.wallS + m.noChange.wallS, seq.bare.create.wallS + seq.bare.noChange.wallS),
          ratio(cpu, bareCpu),
        ];
      }),
    ],
  ),
);
console.log("(provider servers' own CPU is counted when they stop, after the no-change pass: compare the sums.)");

const bare = await fleet("bare");
const mono = await fleet("monolithic");
const ours = await fleet("runner+servers");
console.log(`\n${FLEET} VMs (per-VM runs at concurrency ${CONCURRENCY}; monolithic: one configuration, -parallelism=10):`);
console.log(
  table(
    ["", "wall s", "CPU s", "tofu processes", "provider starts", "wall vs monolithic", "CPU vs bare per-VM"],
    [
      ["monolithic apply", fmt(mono.wallS), fmt(mono.cpuS), String(mono.tofuProcesses), "-", "×1.00", ratio(mono.cpuS, bare.cpuS)],
      ["bare per-VM runs", fmt(bare.wallS), fmt(bare.cpuS), String(bare.tofuProcesses), "-", ratio(bare.wallS, mono.wallS), "×1.00"],
      ["runner + provider servers", fmt(ours.wallS), fmt(ours.cpuS), String(ours.tofuProcesses), String(ours.providerStarts ?? "-"), ratio(ours.wallS, mono.wallS), ratio(ours.cpuS, bare.cpuS)],
    ],
  ),
);
