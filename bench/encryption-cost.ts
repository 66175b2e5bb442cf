/**
 * What state and plan encryption costs a run, side by side in one process (a script that prints
 * numbers, not a test):
 *
 *   npx tsx bench/encryption-cost.ts [--runs 5]
 *
 * Needs the platform (`scripts/platform up`): PostgreSQL for state, tofu and the provider
 * mirror; Proxmox is the in-process simulator without task or boot delays, so the numbers are
 * tofu's own. For each encryption setting, against a fresh simulator and state schema, with
 * provider servers as the worker runs them: `--runs` VMs created one after another, then each
 * applied again unchanged (prepare + applyAuto: one tofu process per run). Settings:
 *
 * - none: plain-text state (what PTM_STATE_ENCRYPTION=off writes);
 * - key: the default, aes_gcm with the operator's key through the external key provider;
 * - key + previous key: the same during a rotation (two key providers);
 * - pbkdf2 passphrase: the opt-in of earlier releases (600000 iterations of SHA-512).
 *
 * CPU seconds are those of the child processes (tofu, the key provider, provider servers,
 * reaped before reading); this process and the simulator inside it are not counted.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ProxmoxVMSpecSchema } from "../src/api/proxmox-vm.js";
import { inheritedEnvironment } from "../src/config/env.js";
import { DEFAULT_SEED, startSimulator } from "../src/simulator/index.js";
import { synthesizeVmStack } from "../src/synth/synthesize.js";
import { DEFAULT_INHERIT_ENV, ProviderServers, TerraformRunner, type RunOptions } from "../src/terraform/index.js";
import { generateStateKey, StateKeyFiles } from "../src/terraform/state-keys.js";
import { dropSchemas } from "../test/support/platform-data.js";
import { platformEnv } from "../test/support/platform-env.js";
import { readCpu } from "./support/proc.js";
import { table } from "./support/stats.js";

const { values: flags } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const RUNS = Number(flags.runs);
const env = platformEnv();
const spec = ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, memory: { dedicated: 1024 } });

type Setting = "none" | "key" | "key + previous key" | "pbkdf2 passphrase";

interface PerRun {
  createCpuS: number;
  noChangeCpuS: number;
  createWallS: number;
  noChangeWallS: number;
}

const childrenCpu = () => readCpu("self")?.children ?? 0;

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

async function scenario(setting: Setting): Promise<PerRun> {
  const sim = await startSimulator({ config: DEFAULT_SEED, unauthorizedDelayMs: 0, taskDurationMs: 0, bootDelayMs: 0, log: false });
  const schema = `bench_enc_${randomBytes(4).toString("hex")}`;
  const root = await mkdtemp(path.join(os.tmpdir(), "ptm-bench-enc-"));
  const servers = new ProviderServers({ baseEnv: inheritedEnvironment(DEFAULT_INHERIT_ENV), idleMs: 600_000 });
  try {
    const runner = new TerraformRunner({ binary: env.TOFU_BIN, flavor: "tofu", workdirRoot: path.join(root, "work"), cliConfigFile: env.TF_CLI_CONFIG_FILE, lockTimeout: "60s", providerServers: servers });
    const encryption = await encryptionOf(setting, path.join(root, "keys"));
    const once = async (name: string, vmId: number) => {
      const configJson = synthesizeVmStack({
        namespace: "bench",
        name,
        spec,
        vmId,
        providerVersion: env.PTM_PROVIDER_VERSION,
        toolVersion: `tofu ${env.PTM_TOFU_VERSION}`,
        stateSchema: schema,
      }).json;
      const run: RunOptions = {
        workdirName: name,
        configJson,
        workspace: `bench.${name}`,
        env: { PG_CONN_STR: pgConnStr(), PROXMOX_VE_ENDPOINT: sim.url, PROXMOX_VE_API_TOKEN: sim.token, PROXMOX_VE_INSECURE: "true" },
        secrets: [sim.token],
        timeoutMs: 600_000,
        ...encryption,
      };
      await runner.prepare(run);
      await runner.applyAuto(run);
    };
    const names = Array.from({ length: RUNS }, (_, i) => `vm-${i}`);
    // A phase: a warm-up run (its provider server starting), then the measured runs; the servers
    // are stopped at its end so that their CPU is reaped and counted in it.
    const phase = async (warmUp: string) => {
      await once(warmUp, warmUp === "warm-up" ? 199 : 198);
      const cpu = childrenCpu();
      const started = performance.now();
      for (const [i, name] of names.entries()) await once(name, 200 + i);
      const wallS = (performance.now() - started) / 1000;
      await servers.stopAll();
      await sleep(200); // let libuv reap them
      return { wallS, cpuS: childrenCpu() - cpu };
    };
    const create = await phase("warm-up");
    const noChange = await phase("warm-up-2");
    const createCpu = create.cpuS;
    const noChangeCpu = noChange.cpuS;
    return { createCpuS: createCpu / RUNS, noChangeCpuS: noChangeCpu / RUNS, createWallS: create.wallS / RUNS, noChangeWallS: noChange.wallS / RUNS };
  } finally {
    await servers.stopAll();
    await sim.close();
    await rm(root, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
    await dropSchemas(schema);
  }
}

const settings: Setting[] = ["none", "key", "key + previous key", "pbkdf2 passphrase"];
const results = new Map<Setting, PerRun>();
for (const setting of settings) {
  results.set(setting, await scenario(setting));
  console.error(`[encryption-cost] ${setting}: done`);
}
const none = results.get("none")!;
const fmt = (n: number) => n.toFixed(3);
const pct = (n: number, base: number) => `${n >= base ? "+" : ""}${(((n - base) / base) * 100).toFixed(1)}%`;
console.log(`\nencryption cost per run (${RUNS} runs each, tofu ${env.PTM_TOFU_VERSION}, one tofu process per run, provider servers)\n`);
console.log(
  table(
    ["setting", "create wall s", "create CPU s", "no-change wall s", "no-change CPU s", "CPU vs none (create)", "CPU vs none (no-change)"],
    settings.map((s) => {
      const r = results.get(s)!;
      return [s, fmt(r.createWallS), fmt(r.createCpuS), fmt(r.noChangeWallS), fmt(r.noChangeCpuS), pct(r.createCpuS, none.createCpuS), pct(r.noChangeCpuS, none.noChangeCpuS)];
    }),
  ),
);
