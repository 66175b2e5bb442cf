/**
 * Fault soak (a script that prints what it did and what held, not a test).
 *
 *   npm run bench:soak -- [--vms 100] [--minutes 15] [--op-interval-s 3] [--fault-interval-s 30]
 *
 * One operator as a deployment runs it: two controller processes with leader election and two
 * worker processes, on private PostgreSQL, Redis and kube-apiserver + etcd
 * (test/support/private-services.ts, so faults can stop them) and a Proxmox VE simulator with a
 * state file. For `--minutes` it creates, updates and deletes ProxmoxVMs at random (up to
 * `--vms` at a time) while one fault from issue 12's list fires at a time, at random: worker (and
 * its tofu) SIGKILLed, leading controller SIGKILLed, simulator restarted, 2 s latency + 10% HTTP
 * 500, a connection reset mid-clone, PostgreSQL stopped, Redis stopped, Redis flushed, the
 * kube-apiserver restarted, etcd compacted (watches end with 410 Gone), a Terraform state row
 * deleted. A process that dies is started again, as Kubernetes would. Then the faults stop, it
 * waits for everything to settle and checks the invariants (test/support/invariants.ts).
 * Exit code 1 when an invariant did not hold.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { checkInvariants, vmIdentities, type VmIdentity } from "../test/support/invariants.js";
import { createPasswordSecret, faultEnv, faultVm, newSecrets } from "../test/support/fault-scenario.js";
import { OperatorHarness } from "../test/support/operator-harness.js";
import { PrivateKube, PrivatePostgres, PrivateRedis } from "../test/support/private-services.js";

/** Set by SIGINT/SIGTERM: the soak stops operating and goes on to settle, check and clean up. */
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
  });
}

const { values: flags } = parseArgs({
  options: {
    vms: { type: "string", default: "100" },
    minutes: { type: "string", default: "15" },
    "op-interval-s": { type: "string", default: "3" },
    "fault-interval-s": { type: "string", default: "30" },
    "settle-timeout-min": { type: "string", default: "30" },
    "worker-concurrency": { type: "string", default: "4" },
    "qmclone-ms": { type: "string", default: "2000" },
    seed: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log("npm run bench:soak -- [--vms 100] [--minutes 15] [--op-interval-s 3] [--fault-interval-s 30] [--settle-timeout-min 30] [--worker-concurrency 4] [--qmclone-ms 2000] [--seed N]");
  process.exit(0);
}

const MAX_VMS = Number(flags.vms);
const DURATION_MS = Number(flags.minutes) * 60_000;
const OP_INTERVAL_MS = Number(flags["op-interval-s"]) * 1000;
const FAULT_INTERVAL_MS = Number(flags["fault-interval-s"]) * 1000;
const SETTLE_MS = Number(flags["settle-timeout-min"]) * 60_000;

/** A small seeded PRNG (mulberry32): a run can be repeated with --seed. */
const seed = flags.seed ? Number(flags.seed) : Math.floor(Math.random() * 2 ** 31);
let rngState = seed;
function random(): number {
  rngState = (rngState + 0x6d2b79f5) | 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
const count = (tally: Map<string, number>, key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);

const secrets = newSecrets();
const pgServer = new PrivatePostgres();
const redisServer = new PrivateRedis();
const kubeServer = new PrivateKube({ minRequestTimeoutSeconds: 30, watchCache: false });
const stateFile = path.join(os.tmpdir(), `ptm-soak-sim-${randomBytes(4).toString("hex")}.json`);

const operations = new Map<string, number>();
const faults = new Map<string, number>();
const restartsAfterExit = new Map<string, number>();
/** Live resources: name → memory MiB in the spec. */
const live = new Map<string, number>();
let nextName = 0;
/** The first VM identity seen per resource uid: nothing may replace it later. */
const identities = new Map<string, VmIdentity>();

let h!: OperatorHarness;
let harnessMade = false;
const controllers = new Map<string, ChildProcess>();
const workers = new Map<string, ChildProcess>();
let processSerial = 0;
let stopping = false;

function startProcess(kind: "controller" | "worker"): void {
  const name = `${kind}-${++processSerial}`;
  const env: Record<string, string> = kind === "controller" ? { PTM_LEADER_ELECTION: "true", PTM_LEASE_NAMESPACE: h.namespace } : { PTM_JOB_LOCK_DURATION: "10s" };
  const child = h.startOperatorProcess([kind], { name, env });
  const group = kind === "controller" ? controllers : workers;
  group.set(name, child);
  child.once("exit", (code, signal) => {
    group.delete(name);
    if (stopping || signal === "SIGKILL") return;
    // Not killed by a fault: the process gave up by itself (e.g. a dependency was away). A pod
    // would be restarted; so is this, and it is reported.
    log(`${name} exited by itself (code ${code}, signal ${signal}); starting a new ${kind}`);
    count(restartsAfterExit, kind);
    startProcess(kind);
  });
}

async function leaseHolder(): Promise<string | undefined> {
  const out = await h.kubectl(["get", "lease", "-n", h.namespace, "proxmox-terraform-manager", "-o", "json"]).catch(() => "");
  return out ? ((JSON.parse(out) as { spec?: { holderIdentity?: string | null } }).spec?.holderIdentity ?? undefined) : undefined;
}

// ---- operations -------------------------------------------------------------------------

async function operate(): Promise<void> {
  const names = [...live.keys()];
  const roll = random();
  if (names.length < MAX_VMS && (names.length === 0 || roll < 0.45)) {
    const name = `soak-${nextName++}`;
    await h.apply(faultVm(name, 1024));
    live.set(name, 1024);
    count(operations, "create");
  } else if (roll < 0.8) {
    const name = pick(names);
    const memory = pick([1024, 1536, 2048].filter((m) => m !== live.get(name)));
    await h.apply(faultVm(name, memory));
    live.set(name, memory);
    count(operations, "update");
  } else {
    const name = pick(names);
    await h.kubectl(["delete", "-n", h.namespace, "proxmoxvm", name, "--wait=false"]);
    live.delete(name);
    count(operations, "delete");
  }
}

async function recordIdentities(): Promise<void> {
  for (const identity of (await vmIdentities(h)).values()) if (!identities.has(identity.uid)) identities.set(identity.uid, identity);
}

// ---- faults -----------------------------------------------------------------------------

const FAULTS: Record<string, () => Promise<void>> = {
  "worker SIGKILL (with tofu)": async () => {
    const [name, child] = pick([...workers.entries()]);
    await h.crash(child);
    workers.delete(name);
    startProcess("worker");
  },
  "leader SIGKILL": async () => {
    const holder = await leaseHolder();
    const child = holder ? controllers.get(holder) : undefined;
    if (!child || !holder) return;
    await h.crash(child);
    controllers.delete(holder);
    startProcess("controller");
  },
  "simulator restart": () => h.restartSimulator(),
  "2 s latency + 10% HTTP 500": async () => {
    h.sim.setFaults({ latencyMs: 2000, http500Rate: 0.1 });
    await sleep(20_000);
    h.sim.setFaults({ latencyMs: 0, http500Rate: 0 });
  },
  "connection reset mid-clone": async () => {
    h.sim.setFaults({ resetConnection: { method: "POST", route: "/nodes/{node}/qemu/{vmid}/clone", nth: 1, afterHandling: true } });
  },
  "PostgreSQL stopped": async () => {
    await pgServer.stop();
    await sleep(10_000);
    await pgServer.start();
  },
  "Redis stopped": async () => {
    await redisServer.stop();
    await sleep(10_000);
    await redisServer.start();
  },
  "Redis FLUSHALL": async () => void (await redisServer.cli("flushall")),
  "kube-apiserver restart": async () => {
    await kubeServer.stopApiServer();
    await sleep(5_000);
    await kubeServer.startApiServer();
  },
  "etcd compaction (watch 410 Gone)": async () => {
    await h.kubectl(["create", "configmap", "-n", h.namespace, `bump-${randomBytes(3).toString("hex")}`]);
    await kubeServer.compact();
  },
  "state row deleted": async () => {
    const names = [...live.keys()];
    if (names.length === 0) return;
    await h.pg((c) => c.query(`delete from ${h.stateSchema}.states where name = $1`, [`${h.namespace}.${pick(names)}`]));
  },
};

// ---- settling ---------------------------------------------------------------------------

async function settled(): Promise<string | undefined> {
  const items = (JSON.parse(await h.kubectl(["get", "-n", h.namespace, "proxmoxvms", "-o", "json"])) as { items: { metadata: { name: string; generation?: number; deletionTimestamp?: string }; status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] } }[] }).items;
  const waiting: string[] = [];
  for (const vm of items) {
    if (!live.has(vm.metadata.name)) waiting.push(`${vm.metadata.name} (deleting)`);
    else if (vm.status?.observedGeneration !== vm.metadata.generation || !vm.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) waiting.push(vm.metadata.name);
  }
  return waiting.length > 0 ? `${waiting.length} not settled: ${waiting.slice(0, 8).join(", ")}` : undefined;
}

// ---- main -------------------------------------------------------------------------------

async function main(): Promise<number> {
  log(`seed ${seed}: up to ${MAX_VMS} VMs for ${flags.minutes} min, an operation every ${flags["op-interval-s"]} s, a fault every ${flags["fault-interval-s"]} s`);
  await Promise.all([pgServer.init(), redisServer.init(), kubeServer.init()]);
  h = new OperatorHarness({
    roles: [],
    services: { databaseUrl: pgServer.url, redisUrl: redisServer.url, kubeconfig: kubeServer.kubeconfigPath },
    simulator: { stateFile, taskDurations: { qmclone: Number(flags["qmclone-ms"]) } },
    env: { ...faultEnv(secrets.passphrase), PTM_WORKER_CONCURRENCY: flags["worker-concurrency"]! },
  });
  harnessMade = true;
  await h.start();
  await createPasswordSecret(h, secrets.password);
  startProcess("controller");
  startProcess("controller");
  startProcess("worker");
  startProcess("worker");

  const started = Date.now();
  let nextFault = started + FAULT_INTERVAL_MS;
  let fault: Promise<void> | undefined;
  while (Date.now() - started < DURATION_MS && !interrupted) {
    await operate().catch((error: unknown) => log(`operation failed: ${(error as Error).message.split("\n")[0]}`));
    await recordIdentities().catch(() => undefined);
    if (!fault && Date.now() >= nextFault) {
      const kind = pick(Object.keys(FAULTS));
      log(`fault: ${kind}`);
      count(faults, kind);
      fault = FAULTS[kind]!()
        .catch((error: unknown) => log(`fault ${kind} failed to fire: ${(error as Error).message.split("\n")[0]}`))
        .finally(() => {
          fault = undefined;
          nextFault = Date.now() + FAULT_INTERVAL_MS;
        });
    }
    await sleep(OP_INTERVAL_MS);
  }
  await fault;
  h.sim.setFaults({ latencyMs: 0, http500Rate: 0, resetConnection: null });
  log(`operations done; waiting up to ${flags["settle-timeout-min"]} min for everything to settle`);
  const settleStarted = Date.now();
  let pending = await settled();
  while (pending && Date.now() - settleStarted < SETTLE_MS && !interrupted) {
    await sleep(5000);
    await recordIdentities().catch(() => undefined);
    pending = await settled();
  }
  const settleSeconds = (Date.now() - settleStarted) / 1000;

  const before = new Map<string, VmIdentity>([...identities.values()].map((identity) => [identity.name, identity]));
  const report = await checkInvariants(h, { before, secrets: [secrets.password, secrets.passphrase, pgServer.secret] });
  const injected = h.sim.injectedFaults();

  console.log("\n== soak summary ==");
  console.log(`seed ${seed}, ${flags.minutes} min, up to ${MAX_VMS} VMs; settled in ${settleSeconds.toFixed(0)} s${pending ? ` (NOT settled: ${pending})` : ""}`);
  console.log(`operations: ${[...operations].map(([k, v]) => `${k} ${v}`).join(", ")} (total ${[...operations.values()].reduce((a, b) => a + b, 0)})`);
  console.log(`faults fired: ${[...faults].map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  console.log(`simulator fault counters (last simulator run): ${JSON.stringify(injected)}`);
  console.log(`processes that exited by themselves and were restarted: ${[...restartsAfterExit].map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  console.log(`resources at the end: ${report.resources}; VMs on Proxmox: ${h.simVms().length}`);
  if (report.violations.length === 0) console.log("invariants: all held");
  else console.log(`invariants: ${report.violations.length} violated\n  ${report.violations.join("\n  ")}`);
  return report.violations.length === 0 && !pending ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(error);
} finally {
  stopping = true;
  if (harnessMade) await h.close().catch((error: unknown) => console.error(`closing: ${(error as Error).message}`));
  await Promise.all([pgServer.close(), redisServer.close(), kubeServer.close()]).catch(() => undefined);
  await rm(stateFile, { force: true });
  await rm(`${stateFile}.files`, { recursive: true, force: true });
}
process.exit(exitCode);
