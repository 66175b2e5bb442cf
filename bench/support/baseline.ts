/**
 * The baseline: bare `tofu init && tofu workspace select -or-create <ws> && tofu apply
 * -auto-approve` of the same synthesized stacks the operator applied, one work directory and one
 * pg-backend workspace per VM, against a fresh simulator (so the operator's VM ids are free
 * again), `parallelism` VMs at a time.
 *
 * (`TF_WORKSPACE=<ws> tofu init` only works while the backend has no workspace yet: with one
 * present, init refuses "Currently selected workspace ... does not exist".)
 *
 * A failed command is retried (at most 3 attempts, 1 s apart) and counted: concurrent tofu
 * processes trip over the same races the operator's worker does (the pg backend's
 * workspace-creation lock, the shared plugin cache).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { ProxmoxVMSpec } from "../../src/api/proxmox-vm.js";
import { startSimulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { synthesizeVmStack, workspaceName } from "../../src/synth/synthesize.js";
import type { PlatformEnv } from "../../test/support/platform-env.js";
import { diffCpu, readCpu, readMachineCpu } from "./proc.js";
import { pool, seconds, summarize } from "./stats.js";

const execFileAsync = promisify(execFile);

export interface BaselineVm {
  namespace: string;
  name: string;
  spec: ProxmoxVMSpec;
  vmId: number;
}

export interface BaselineOptions {
  vms: BaselineVm[];
  parallelism: number;
  env: PlatformEnv;
  simulator: SimulatorOptions;
  providerVersion: string;
  toolVersion: string;
  /** TF_PLUGIN_CACHE_DIR for the bare runs; none (the platform's tofurc links the provider mirror directly) when undefined. */
  pluginCacheDir?: string;
  signal: AbortSignal;
}

export interface BaselineResult {
  vms: number;
  parallelism: number;
  ok: boolean;
  /** First init started → last apply finished, seconds. */
  wallSeconds: number | undefined;
  /** Per VM: start of the whole batch → this VM's apply finished (comparable to the operator's apply→Ready). */
  completion: ReturnType<typeof summarize>;
  /** Per VM: its own init + apply time. */
  perVmDuration: ReturnType<typeof summarize>;
  /** init + workspace select. */
  init: ReturnType<typeof summarize>;
  apply: ReturnType<typeof summarize>;
  tofuInvocationsPerVm: number;
  /** Commands that failed and were run again, with their first error line. */
  retries: { name: string; step: string; error: string; stderrTail: string }[];
  /** CPU seconds of the tofu processes (and their providers) per VM. */
  tofuCpuSecondsPerVm: number | undefined;
  vmsOnSimulator: number;
  /** Machine-wide CPU seconds busy / idle during the batch (other users' processes included). */
  machineCpu?: { busy: number; idle: number };
  failures: { name: string; step: string; code: number | string | undefined; stderr: string }[];
}

export async function runBaseline(o: BaselineOptions): Promise<BaselineResult> {
  const id = randomBytes(4).toString("hex");
  const stateSchema = `bench_${id}_bare`;
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-bare-"));
  const sim = await startSimulator(o.simulator);
  const failures: BaselineResult["failures"] = [];
  try {
    const dirs: string[] = [];
    for (const vm of o.vms) {
      const stack = synthesizeVmStack({
        namespace: vm.namespace,
        name: vm.name,
        spec: vm.spec,
        vmId: vm.vmId,
        providerVersion: o.providerVersion,
        toolVersion: o.toolVersion,
        stateSchema,
      });
      const dir = path.join(tmp, vm.name);
      await mkdir(dir);
      await writeFile(path.join(dir, "main.tf.json"), stack.json);
      dirs.push(dir);
    }
    const inherited = { ...(process.env as Record<string, string>) };
    delete inherited.TF_PLUGIN_CACHE_DIR;
    const baseEnv: Record<string, string> = {
      ...inherited,
      ...o.env,
      TF_IN_AUTOMATION: "1",
      CHECKPOINT_DISABLE: "1",
      ...(o.pluginCacheDir ? { TF_PLUGIN_CACHE_DIR: o.pluginCacheDir } : {}),
      TF_CLI_CONFIG_FILE: o.env.TF_CLI_CONFIG_FILE,
      PG_CONN_STR: o.env.DATABASE_URL,
      PROXMOX_VE_ENDPOINT: sim.url,
      PROXMOX_VE_API_TOKEN: sim.token,
      PROXMOX_VE_INSECURE: "true",
    };
    const retries: BaselineResult["retries"] = [];
    let invocations = 0;
    const tofu = async (name: string, dir: string, args: string[]) => {
      for (let attempt = 1; ; attempt++) {
        invocations++;
        try {
          await execFileAsync(o.env.TOFU_BIN, args, { cwd: dir, env: baseEnv, maxBuffer: 64 << 20, signal: o.signal });
          return;
        } catch (error) {
          if (o.signal.aborted || attempt >= 3) throw error;
          const e = error as { stderr?: string; message?: string };
          retries.push({ name, step: args[0]!, error: firstErrorLine(e.stderr || e.message || ""), stderrTail: (e.stderr || "").slice(-2000) });
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };

    const cpuBefore = readCpu("self");
    const machineBefore = readMachineCpu();
    const t0 = Date.now();
    const timings = await pool(o.vms, o.parallelism, async (vm, i) => {
      const dir = dirs[i]!;
      const workspace = workspaceName(vm.namespace, vm.name);
      const start = Date.now();
      let step = "init";
      try {
        await tofu(vm.name, dir, ["init", "-input=false", "-no-color"]);
        step = "workspace";
        await tofu(vm.name, dir, ["workspace", "select", "-or-create", "-no-color", workspace]);
        const initDone = Date.now();
        step = "apply";
        await tofu(vm.name, dir, ["apply", "-auto-approve", "-input=false", "-no-color"]);
        const done = Date.now();
        return { ok: true, start, init: initDone - start, apply: done - initDone, done };
      } catch (error) {
        if (o.signal.aborted) throw error;
        const e = error as { code?: number | string; stderr?: string; message?: string };
        failures.push({ name: vm.name, step, code: e.code, stderr: (e.stderr || e.message || "").slice(-1500) });
        return { ok: false, start, init: 0, apply: 0, done: Date.now() };
      }
    });
    const tEnd = Date.now();
    const cpu = diffCpu(cpuBefore, readCpu("self"));
    const machineAfter = readMachineCpu();
    const ok = timings.filter((t) => t.ok);
    const vmsOnSimulator = Object.values(sim.state().vms).filter((v) => String(v.conf.template ?? "0") !== "1").length;
    return {
      vms: o.vms.length,
      parallelism: o.parallelism,
      ok: failures.length === 0 && vmsOnSimulator === o.vms.length,
      wallSeconds: seconds(tEnd - t0),
      completion: summarize(ok.map((t) => t.done - t0)),
      perVmDuration: summarize(ok.map((t) => t.init + t.apply)),
      init: summarize(ok.map((t) => t.init)),
      apply: summarize(ok.map((t) => t.apply)),
      tofuInvocationsPerVm: Math.round((invocations / o.vms.length) * 100) / 100,
      retries,
      tofuCpuSecondsPerVm: cpu ? Math.round((cpu.children / o.vms.length) * 100) / 100 : undefined,
      vmsOnSimulator,
      ...(machineBefore && machineAfter ? { machineCpu: { busy: Math.round(machineAfter.busy - machineBefore.busy), idle: Math.round(machineAfter.idle - machineBefore.idle) } } : {}),
      failures,
    };
  } finally {
    await sim.close().catch(() => undefined);
    const client = new pg.Client({ connectionString: o.env.DATABASE_URL });
    await client.connect();
    try {
      await client.query(`drop schema if exists ${stateSchema} cascade`);
    } finally {
      await client.end();
    }
    await rm(tmp, { recursive: true, force: true });
  }
}

function firstErrorLine(text: string): string {
  const line = text.split("\n").find((l) => /error/i.test(l)) ?? text.split("\n").find((l) => l.trim()) ?? "";
  return line.trim().slice(0, 300);
}
