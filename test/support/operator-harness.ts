import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Queue, type JobState } from "bullmq";
import pg from "pg";
import { pino } from "pino";
import { App, type Role } from "../../src/app.js";
import { readEnv } from "../../src/config/env.js";
import { redisConnection } from "../../src/queue/redis-connection.js";
import { RUN_QUEUE } from "../../src/queue/run-queue.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { startSimulator, type RunningSimulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { Redactor } from "../../src/terraform/index.js";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "./kube.js";
import { deleteRedisKeys, dropSchemas } from "./platform-data.js";
import { killTree, type TreeProcess } from "./process-tree.js";
import { platformEnv } from "./platform-env.js";
import { repoRoot } from "./paths.js";
import { assertNoUnknownRoutes } from "./unknown-route-guard.js";
import { cappedWait } from "./wait.js";

export interface HarnessOptions {
  roles?: Role[];
  simulator?: SimulatorOptions;
  env?: Record<string, string>;
  /** Create the ProxmoxConnection "pve" and its Secret (default true). */
  connection?: boolean;
  /** Also run the sidecar role, on 127.0.0.1 and a free port: see `sidecarUrl`. */
  sidecar?: boolean;
  /**
   * Private instances (test/support/private-services.ts) instead of the shared platform's, for
   * tests that stop or flush them. Everything of this harness then uses them.
   */
  services?: { kubeconfig?: string; redisUrl?: string; databaseUrl?: string };
  /** In-process operators log to files in `logDir` (see logFiles()) instead of stdout. */
  captureLogs?: boolean;
}

let crdsApplied: Promise<unknown> | undefined;

/** Applies crds/ once per test process and waits until they are served. */
export function ensureCrds(): Promise<unknown> {
  crdsApplied ??= (async () => {
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", path.join(repoRoot, "crds")]);
    await kubectl(["wait", "--for=condition=Established", "crd/proxmoxvms.proxmox.terraform-manager.dev", "crd/proxmoxconnections.proxmox.terraform-manager.dev", "crd/proxmoxvmsets.proxmox.terraform-manager.dev", "--timeout=60s"]);
  })();
  return crdsApplied;
}

/**
 * One isolated operator for one test file: its own namespace (the controller watches only it),
 * Redis key prefix, database schemas, work directory and simulator. Everything is real: the
 * API server, Redis, PostgreSQL, tofu and the provider.
 */
export class OperatorHarness {
  readonly namespace = uniqueName("e2e");
  readonly prefix = `t${randomBytes(4).toString("hex")}`;
  readonly dbSchema = `t_${randomBytes(4).toString("hex")}`;
  readonly stateSchema = `ts_${randomBytes(4).toString("hex")}`;
  sim!: RunningSimulator;
  /** True once the simulator runs (start() got that far). */
  started = false;
  /** The operator started last. */
  app: App | undefined;
  private readonly apps: App[] = [];
  private runQueue: Queue | undefined;
  workdir!: string;
  /** Operator log files (in-process with captureLogs, and every operator process). */
  logDir!: string;
  private readonly logs: string[] = [];
  private readonly processes: ChildProcess[] = [];
  readonly kubeConfig: KubeConfig;

  constructor(private readonly options: HarnessOptions = {}) {
    this.kubeConfig = options.services?.kubeconfig ? loadKubeConfig(options.services.kubeconfig) : platformKubeConfig();
  }

  get redisUrl(): string {
    return this.options.services?.redisUrl ?? platformEnv().REDIS_URL;
  }

  get databaseUrl(): string {
    return this.options.services?.databaseUrl ?? platformEnv().DATABASE_URL;
  }

  /** kubectl against this harness's API server (the platform's, or a private one). */
  kubectl(args: string[], input?: string): Promise<string> {
    const kubeconfig = this.options.services?.kubeconfig;
    return kubectl(kubeconfig ? ["--kubeconfig", kubeconfig, ...args] : args, input);
  }

  /** Runs `fn` with a client of this harness's PostgreSQL. */
  async pg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  /** Environment for an operator process (in this process or a child) of this harness. */
  operatorEnv(): Record<string, string> {
    const p = platformEnv();
    return {
      ...p,
      PTM_QUEUE_PREFIX: this.prefix,
      PTM_DB_SCHEMA: this.dbSchema,
      PTM_STATE_SCHEMA: this.stateSchema,
      PTM_NAMESPACE: this.namespace,
      ...(this.options.services?.kubeconfig ? { KUBECONFIG: this.options.services.kubeconfig } : {}),
      ...(this.options.services?.redisUrl ? { REDIS_URL: this.options.services.redisUrl } : {}),
      ...(this.options.services?.databaseUrl ? { DATABASE_URL: this.options.services.databaseUrl } : {}),
      PTM_LEADER_ELECTION: "false",
      PTM_WORKDIR_ROOT: this.workdir,
      PTM_LOG_LEVEL: process.env.PTM_TEST_LOG_LEVEL ?? "error",
      PTM_PROVIDER_VERSION: p.PTM_PROVIDER_VERSION,
      PTM_WORKER_CONCURRENCY: "4",
      PTM_RESYNC_INTERVAL: "30s",
      ...(this.options.sidecar ? { PTM_SIDECAR_PORT: "0", PTM_SIDECAR_HOST: "127.0.0.1" } : {}),
      ...this.options.env,
    };
  }

  async start(): Promise<this> {
    if (this.options.services?.kubeconfig) await this.applyCrds();
    else await ensureCrds();
    this.workdir = await mkdtemp(path.join(os.tmpdir(), "ptm-e2e-"));
    this.logDir = await mkdtemp(path.join(os.tmpdir(), "ptm-e2e-logs-"));
    this.sim = await startSimulator(this.simulatorOptions());
    this.started = true;
    await this.kubectl(["create", "namespace", this.namespace]);
    if (this.options.connection !== false) await this.createConnection("pve");
    const roles: Role[] = [...(this.options.roles ?? ["controller", "worker"]), ...(this.options.sidecar ? (["sidecar"] as const) : [])];
    if (roles.length > 0) await this.startApp(roles);
    return this;
  }

  /**
   * Starts an operator in this process. `identity` runs it as someone other than the platform's
   * admin (e.g. a ServiceAccount token); `env` adds to operatorEnv().
   */
  async startApp(roles: Role[], opts: { identity?: KubeConfig; env?: Record<string, string> } = {}): Promise<App> {
    const env = readEnv({ ...process.env, ...this.operatorEnv(), ...opts.env });
    // As main.ts does: the logger removes every Secret value the operator reads.
    const redactor = new Redactor();
    let destination: pino.DestinationStream | undefined;
    if (this.options.captureLogs) {
      const file = path.join(this.logDir, `in-process-${this.apps.length}.log`);
      this.logs.push(file);
      destination = pino.destination({ dest: file, sync: true });
    }
    const logger = createLogger(env.PTM_LOG_LEVEL, { test: this.namespace }, { secrets: redactor, ...(destination ? { destination } : {}) });
    const app = new App({ env, roles, logger, redactor, kubeConfig: opts.identity ?? this.kubeConfig });
    await app.start();
    this.app = app;
    this.apps.push(app);
    return app;
  }

  /**
   * An operator in its own process (src/main.ts, as in a pod), so a test can kill it for real.
   * Its output goes to `<logDir>/<name>.log`.
   */
  startOperatorProcess(roles: Role[], opts: { name: string; env?: Record<string, string> }): ChildProcess {
    const file = path.join(this.logDir, `${opts.name}.log`);
    this.logs.push(file);
    const fd = openSync(file, "a");
    const args = ["--import", "tsx", path.join(repoRoot, "src/main.ts"), ...roles.flatMap((r) => ["--role", r])];
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...this.operatorEnv(), PTM_LOG_LEVEL: "info", POD_NAME: opts.name, ...opts.env },
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.processes.push(child);
    return child;
  }

  /** SIGKILLs an operator process with tofu and the provider under it (see process-tree.ts). */
  async crash(child: ChildProcess): Promise<TreeProcess[]> {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error("the operator process is not running");
    const exited = once(child, "exit");
    const killed = killTree(child.pid);
    await exited;
    return killed;
  }

  /** Every operator log file so far. */
  logFiles(): string[] {
    return [...this.logs];
  }

  /**
   * Stops the simulator and starts it again on the same port with the same token, from its state
   * file (option simulator.stateFile): tasks that were running come back stopped.
   */
  async restartSimulator(): Promise<void> {
    if (!this.options.simulator?.stateFile) throw new Error("restartSimulator needs simulator.stateFile");
    const { port, token } = this.sim;
    assertNoUnknownRoutes(this.sim);
    await this.sim.close();
    this.sim = await startSimulator({ ...this.simulatorOptions(), port, token });
  }

  private simulatorOptions(): SimulatorOptions {
    return { port: 0, taskDurationMs: 0, log: false, unauthorizedDelayMs: 0, ...this.options.simulator };
  }

  private async applyCrds(): Promise<void> {
    await this.kubectl(["apply", "--server-side", "--force-conflicts", "-f", path.join(repoRoot, "crds")]);
    await this.kubectl(["wait", "--for=condition=Established", "crd/proxmoxvms.proxmox.terraform-manager.dev", "crd/proxmoxconnections.proxmox.terraform-manager.dev", "crd/proxmoxvmsets.proxmox.terraform-manager.dev", "--timeout=60s"]);
  }

  /** The sidecar's base URL (option `sidecar: true`), e.g. http://127.0.0.1:40123. */
  get sidecarUrl(): string {
    const url = this.app?.sidecarUrl;
    if (!url) throw new Error("the sidecar is not running: create the harness with { sidecar: true }");
    return url;
  }

  async createConnection(name: string, opts: { secretName?: string; withSecret?: boolean } = {}): Promise<void> {
    const secretName = opts.secretName ?? `${name}-token`;
    if (opts.withSecret !== false) {
      await this.kubectl(["apply", "-n", this.namespace, "-f", "-"], yamlOf({
        apiVersion: "v1",
        kind: "Secret",
        // Consent (src/vm/secret-consent.ts): this Secret is meant for the operator.
        metadata: { name: secretName, labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } },
        stringData: { token: `PVEAPIToken=${this.sim.token}` },
      }));
    }
    await this.apply({
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxConnection",
      metadata: { name },
      spec: { endpoint: this.sim.url, tokenSecretRef: { name: secretName, key: "token" }, insecureSkipTLSVerify: true },
    });
  }

  async apply(obj: object): Promise<string> {
    return this.kubectl(["apply", "-n", this.namespace, "-f", "-"], yamlOf(obj));
  }

  async getVm(name: string): Promise<ProxmoxVMObject | undefined> {
    try {
      return JSON.parse(await this.kubectl(["get", "-n", this.namespace, "pvm", name, "-o", "json"])) as ProxmoxVMObject;
    } catch (error) {
      if (/NotFound/.test(String(error))) return undefined;
      throw error;
    }
  }

  /** Polls the VM until `predicate` holds; the error shows the last status seen. */
  async waitForVm(name: string, predicate: (vm: ProxmoxVMObject | undefined) => boolean, timeoutMs = 120_000): Promise<ProxmoxVMObject | undefined> {
    timeoutMs = cappedWait(timeoutMs);
    const deadline = Date.now() + timeoutMs;
    let last: ProxmoxVMObject | undefined;
    while (Date.now() < deadline) {
      last = await this.getVm(name);
      if (predicate(last)) return last;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`timed out waiting for ProxmoxVM ${name}; last status: ${JSON.stringify(last?.status, null, 2)}`);
  }

  waitForReady(name: string, generation?: number, timeoutMs?: number) {
    return this.waitForVm(
      name,
      (vm) =>
        vm?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
        (generation === undefined || vm.status?.observedGeneration === generation),
      timeoutMs,
    );
  }

  /** VMs in the simulator that are not templates. */
  simVms() {
    return Object.values(this.sim.state().vms).filter((vm) => !isTemplate(vm));
  }

  /**
   * The BullMQ state of the VM's run job ("waiting", "active", "delayed", ...), or undefined when
   * no job is queued or running for it (jobs are removed when they complete or finally fail): the
   * positive signal that a run is over and no retry of it is pending.
   */
  async runJobState(name: string): Promise<JobState | "unknown" | undefined> {
    const uid = (await this.getVm(name))?.metadata.uid;
    if (!uid) throw new Error(`ProxmoxVM ${name} does not exist`);
    this.runQueue ??= new Queue(RUN_QUEUE, { connection: redisConnection(this.redisUrl), prefix: this.prefix });
    const job = await this.runQueue.getJob(uid);
    return job ? job.getState() : undefined;
  }

  /** Reconciles the controller of the last started operator has finished (metric ptm_reconcile_total). */
  async reconcileCount(): Promise<number> {
    const metric = this.app?.metrics.registry.getSingleMetric("ptm_reconcile_total");
    if (!metric) throw new Error("no operator with a controller runs in this harness");
    return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
  }

  /** Drift checks of the last started operator's controller with this result (metric ptm_drift_checks_total). */
  async driftChecks(result: "unchanged" | "changed" | "unknown" | "full"): Promise<number> {
    const metric = this.app?.metrics.registry.getSingleMetric("ptm_drift_checks_total");
    if (!metric) throw new Error("no operator with a controller runs in this harness");
    return (await metric.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  }

  async runsOf(name: string): Promise<{ action: string; status: string; add_count: number | null; change_count: number | null }[]> {
    const { rows } = await this.pg((c) =>
      c.query(`select action, status, add_count, change_count from ${this.dbSchema}.runs where namespace = $1 and name = $2 order by created_at`, [this.namespace, name]),
    );
    return rows;
  }

  /**
   * Stops everything this harness started and removes its data. Fails (after cleaning up) if the
   * simulator served an unknown route that no per-test check reported (see suite-hooks.ts).
   */
  async close(): Promise<void> {
    for (const child of this.processes) if (child.exitCode === null && child.signalCode === null) await this.crash(child);
    for (const app of this.apps.reverse()) await app.stop();
    await this.runQueue?.close();
    await this.sim?.close();
    // Private services are thrown away whole by their owner; the shared platform is cleaned here.
    if (!this.options.services?.kubeconfig) await deleteNamespace(this.namespace);
    if (!this.options.services?.databaseUrl) await dropSchemas(this.dbSchema, this.stateSchema);
    if (!this.options.services?.redisUrl) await deleteRedisKeys(this.prefix);
    if (this.workdir) await rm(this.workdir, { recursive: true, force: true });
    if (this.logDir) await rm(this.logDir, { recursive: true, force: true });
    if (this.started) assertNoUnknownRoutes(this.sim);
  }
}


function loadKubeConfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

function isTemplate(vm: unknown): boolean {
  const v = vm as { conf?: Record<string, unknown>; config?: Record<string, unknown> };
  const conf = v.conf ?? v.config ?? {};
  return conf.template === 1 || conf.template === "1";
}

export function yamlOf(obj: object): string {
  return JSON.stringify(obj);
}
