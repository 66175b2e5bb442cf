/**
 * What state and plan encryption costs a run, side by side in one process (a script that prints
 * numbers, not a test):
 *
 *   npx tsx bench/encryption-cost.ts [--runs 8]
 *
 * Needs the platform (`scripts/platform up`): PostgreSQL for state, tofu and the provider
 * mirror; Proxmox is the in-process simulator without task or boot delays, so the numbers are
 * tofu's own. One simulator, state schema and runner per encryption setting, all set up first;
 * then `--runs` rounds, each creating one VM per setting and applying it again unchanged
 * (prepare + applyAuto: one tofu process per run), the settings taking turns so that the load of
 * a shared machine falls on all of them alike. Settings:
 *
 * - none: plain-text state (what PTM_STATE_ENCRYPTION=off writes);
 * - key: the default, aes_gcm with the operator's key through the external key provider;
 * - key + previous key: the same during a rotation (two key providers);
 * - pbkdf2 passphrase: the opt-in of earlier releases (600000 iterations of SHA-512).
 *
 * CPU seconds are those of each run's child processes (tofu, the key provider, the provider
 * tofu starts: no provider servers here, so that every run's children are reaped when it ends);
 * medians over the rounds. Also printed: the key provider program alone, per invocation.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import { ProxmoxVMSpecSchema } from "../src/api/proxmox-vm.js";
import { DEFAULT_SEED, startSimulator, type RunningSimulator } from "../src/simulator/index.js";
import { synthesizeVmStack } from "../src/synth/synthesize.js";
import { KEY_PROVIDER_SCRIPT } from "../src/terraform/encryption.js";
import { TerraformRunner, type RunOptions } from "../src/terraform/index.js";
import { generateStateKey, StateKeyFiles } from "../src/terraform/state-keys.js";
import { dropSchemas } from "../test/support/platform-data.js";
import { platformEnv } from "../test/support/platform-env.js";
import { readCpu } from "./support/proc.js";
import { table } from "./support/stats.js";

const execFileAsync = promisify(execFile);
const { values: flags } = parseArgs({ options: { runs: { type: "string", default: "8" } } });
const RUNS = Number(flags.runs);
const env = platformEnv();
const spec = ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, memory: { dedicated: 1024 } });

type Setting = "none" | "key" | "key + previous key" | "pbkdf2 passphrase";
const SETTINGS: Setting[] = ["none", "key", "key + previous key", "pbkdf2 passphrase"];

interface Scenario {
  setting: Setting;
  sim: RunningSimulator;
  schema: string;
  root: string;
  runner: TerraformRunner;
  encryption: Partial<RunOptions>;
  create: { cpuS: number; wallS: number }[];
  noChange: { cpuS: number; wallS: number }[];
}

const childrenCpu = () => readCpu("self")?.children ?? 0;
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function pgConnStr(): string {
  const url = new URL(env.DATABASE_URL);
  url.searchParams.set("sslmode", "disable");
  return url.toString();
}

async function encryptionOf(setting: Setting, keyDir: string): Promise<Partial<RunOptions>> {
  const files = new StateKeyFiles(keyDir);
  if (setting === "key") return { stateEncryption: await files.config({ current: generateStateKey(), previous: [] }) };
  if (setting === "key + previous key") return { stateEncryption: await files.config({ current: generateStateKey(), previous: [generateStateKey()] }) };
  if (setting === "pbkdf2 passphrase") return { stateEncryptionPassphrase: randomBytes(24).toString("hex") };
  return {};
}

async function setUp(setting: Setting): Promise<Scenario> {
  const sim = await startSimulator({ config: DEFAULT_SEED, unauthorizedDelayMs: 0, taskDurationMs: 0, bootDelayMs: 0, log: false });
  const schema = `bench_enc_${randomBytes(4).toString("hex")}`;
  const root = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-enc-"));
  const runner = new TerraformRunner({ binary: env.TOFU_BIN, flavor: "tofu", workdirRoot: path.join(root, "work"), cliConfigFile: env.TF_CLI_CONFIG_FILE, lockTimeout: "60s" });
  return { setting, sim, schema, root, runner, encryption: await encryptionOf(setting, path.join(root, "keys")), create: [], noChange: [] };
}

/** One run of VM `name` in the scenario: CPU of its children and wall time. */
async function runOnce(s: Scenario, name: string, vmId: number): Promise<{ cpuS: number; wallS: number }> {
  const configJson = synthesizeVmStack({ namespace: "bench", name, spec, vmId, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion: `tofu ${env.PTM_TOFU_VERSION}`, stateSchema: s.schema }).json;
  const run: RunOptions = {
    workdirName: name,
    configJson,
    workspace: `bench.${name}`,
    env: { PG_CONN_STR: pgConnStr(), PROXMOX_VE_ENDPOINT: s.sim.url, PROXMOX_VE_API_TOKEN: s.sim.token, PROXMOX_VE_INSECURE: "true" },
    secrets: [s.sim.token],
    timeoutMs: 600_000,
    ...s.encryption,
  };
  const cpu = childrenCpu();
  const started = performance.now();
  await s.runner.prepare(run);
  await s.runner.applyAuto(run);
  const wallS = (performance.now() - started) / 1000;
  await sleep(50); // let libuv reap the last children
  return { cpuS: childrenCpu() - cpu, wallS };
}

/** CPU per invocation of the key provider program alone (what tofu runs about four times per command). */
async function keyProviderCpu(): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-kp-"));
  try {
    const file = await new StateKeyFiles(dir).fileFor(generateStateKey());
    const n = 200;
    const cpu = childrenCpu();
    for (let i = 0; i < n; i++) {
      const child = execFileAsync("/bin/sh", ["-c", KEY_PROVIDER_SCRIPT, "ptm-state-key", file]);
      child.child.stdin?.end("null");
      await child;
    }
    return (childrenCpu() - cpu) / n;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const scenarios: Scenario[] = [];
try {
  for (const setting of SETTINGS) scenarios.push(await setUp(setting));
  // The first run of a runner pays its shared init: not measured.
  for (const s of scenarios) await runOnce(s, "warm-up", 199);
  for (let round = 0; round < RUNS; round++) {
    for (const s of scenarios) s.create.push(await runOnce(s, `vm-${round}`, 200 + round));
    for (const s of scenarios) s.noChange.push(await runOnce(s, `vm-${round}`, 200 + round));
    console.error(`[encryption-cost] round ${round + 1}/${RUNS}`);
  }
  const perCall = await keyProviderCpu();
  const none = scenarios[0]!;
  const med = (xs: { cpuS: number }[]) => median(xs.map((x) => x.cpuS));
  const medWall = (xs: { wallS: number }[]) => median(xs.map((x) => x.wallS));
  const fmt = (n: number) => n.toFixed(3);
  const pct = (n: number, base: number) => `${n >= base ? "+" : ""}${(((n - base) / base) * 100).toFixed(1)}%`;
  console.log(`\nencryption cost per run (median of ${RUNS} rounds, settings taking turns; tofu ${env.PTM_TOFU_VERSION}, one tofu process per run, no provider servers)\n`);
  console.log(
    table(
      ["setting", "create wall s", "create CPU s", "no-change wall s", "no-change CPU s", "CPU vs none (create)", "CPU vs none (no-change)"],
      scenarios.map((s) => [
        s.setting,
        fmt(medWall(s.create)),
        fmt(med(s.create)),
        fmt(medWall(s.noChange)),
        fmt(med(s.noChange)),
        pct(med(s.create), med(none.create)),
        pct(med(s.noChange), med(none.noChange)),
      ]),
    ),
  );
  console.log(`\nkey provider program alone: ${(perCall * 1000).toFixed(2)} ms CPU per invocation (tofu runs it about 4 times per command: ${(perCall * 4000).toFixed(1)} ms per run)`);
} finally {
  for (const s of scenarios) {
    await s.sim.close();
    await rm(s.root, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
    await dropSchemas(s.schema);
  }
}
