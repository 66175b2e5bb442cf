import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { PROXMOX_CONNECTION, PROXMOX_VM } from "./api/group.js";
import type { ProxmoxConnectionStatus, ProxmoxVMStatus } from "./api/status.js";
import { inheritedEnvironment, type Env } from "./config/env.js";
import { TokenCache } from "./vm/token-cache.js";
import { ConnectionResolver, connectionPolicyFromEnv } from "./vm/connection-resolver.js";
import { ConnectionReconciler } from "./controller/connection-reconciler.js";
import { Controller } from "./controller/controller.js";
import { describeWatched, watchedNamespaces } from "./config/namespaces.js";
import { RunGate } from "./controller/run-gate.js";
import { StackHasher } from "./vm/stack-hasher.js";
import { OutputWriter } from "./vm/output-writer.js";
import { DigestDriftProbe } from "./vm/drift-probe.js";
import { proxmoxClient } from "./vm/proxmox-client.js";
import { VmReconciler } from "./controller/vm-reconciler.js";
import { VmSetController } from "./controller/vm-set-controller.js";
import { VmSetReconciler, type ProxmoxVMSetObject } from "./controller/vm-set-reconciler.js";
import { PROXMOX_VM_SET, type ProxmoxVMSetStatus } from "./api/proxmox-vm-set.js";
import { EventPublisher } from "./events/publisher.js";
import { eventsStreamKey } from "./events/stream.js";
import type { Sidecar } from "./http/sidecar.js";
import { createRunProcessor } from "./jobs/create-run-processor.js";
import { StateEncryption } from "./jobs/state-encryption.js";
import { redisConnection } from "./queue/redis-connection.js";
import { RUN_QUEUE, RunQueue, type RunJob } from "./queue/run-queue.js";
import { CustomObjects } from "./kube/custom-objects.js";
import { EventRecorder } from "./kube/event-recorder.js";
import { LeaderElector } from "./kube/leader-election.js";
import { StatusWriter } from "./kube/status-writer.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "./kube/types.js";
import { openDatabase, type Database } from "./store/database.js";
import { operatorVersion } from "./telemetry/build-info.js";
import { Metrics } from "./telemetry/metrics.js";
import { DEFAULT_INHERIT_ENV, ProviderServers, TerraformRunner, type Redactor } from "./terraform/index.js";

export type Role = "controller" | "worker" | "sidecar";

export interface AppOptions {
  env: Env;
  roles: Role[];
  logger: Logger;
  /** Tests pass their own KubeConfig; otherwise KUBECONFIG / in-cluster config is loaded. */
  kubeConfig?: KubeConfig;
  identity?: string;
  /**
   * Learns every Secret value the operator reads (tokens, passwords), so the logger that shares it
   * removes them in any spelling; main.ts passes the one its logger uses.
   */
  redactor?: Redactor;
}

/**
 * The composition root: builds every dependency once, starts the roles asked for, and stops
 * them in reverse order. Nothing here runs at import time.
 */
export class App {
  private readonly stops: (() => Promise<void>)[] = [];
  private stopping: Promise<void> | undefined;
  private readonly shutdown = new AbortController();
  readonly identity: string;
  readonly kubeConfig: KubeConfig;
  database: Database | undefined;
  controller: Controller | undefined;
  worker: Worker<RunJob> | undefined;
  elector: LeaderElector | undefined;
  sidecar: Sidecar | undefined;
  /** This process's metrics (served by the sidecar and by PTM_METRICS_PORT). */
  readonly metrics: Metrics;
  /** The sidecar's base URL once it listens (with PTM_SIDECAR_PORT=0, the port it was given). */
  sidecarUrl: string | undefined;
  /** The PTM_METRICS_PORT endpoint's base URL, when enabled. */
  metricsUrl: string | undefined;

  constructor(private readonly o: AppOptions) {
    this.identity = o.identity ?? o.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    this.kubeConfig = o.kubeConfig ?? loadKubeConfig();
    // Process metrics (GC, event loop) only where /metrics is served.
    this.metrics = new Metrics({ defaultMetrics: o.roles.includes("sidecar") || o.env.PTM_METRICS_PORT !== undefined });
  }

  async start(): Promise<void> {
    const { env, logger } = this.o;
    const watched = watchedNamespaces(env.PTM_NAMESPACE);
    const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
    // ioredis reconnects by itself; without a listener it prints every failed attempt to stderr.
    redis.on("error", (err: Error) => logger.warn({ err }, "redis connection error; reconnecting"));
    this.stops.push(async () => void redis.disconnect());
    const database = await openDatabase(env.DATABASE_URL, env.PTM_DB_SCHEMA);
    this.database = database;
    this.stops.push(() => database.close());

    const vms = new CustomObjects<ProxmoxVMObject>(this.kubeConfig, PROXMOX_VM.plural);
    const connectionsApi = new CustomObjects<ProxmoxConnectionObject>(this.kubeConfig, PROXMOX_CONNECTION.plural);
    const status = new StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>(vms);
    const events = new EventRecorder(this.kubeConfig, logger, this.identity);
    // Stops run in reverse: the events the roles recorded on their way out are sent first.
    this.stops.push(() => events.flush(5_000));
    // Secret consent and the endpoint policy (PTM_SECRET_CONSENT, PTM_ALLOW_HTTP_ENDPOINTS, PTM_ENDPOINT_ALLOWLIST).
    const connections = new ConnectionResolver(this.kubeConfig, connectionPolicyFromEnv(env, this.o.redactor));
    // Provider processes that plans and applies reattach to; stopped with the worker.
    const providerServers = env.PTM_PROVIDER_SERVERS
      ? new ProviderServers({ baseEnv: inheritedEnvironment(DEFAULT_INHERIT_ENV), idleMs: env.PTM_PROVIDER_SERVER_IDLE })
      : undefined;
    if (providerServers) this.stops.push(async () => providerServers.stopAll());
    const runner = new TerraformRunner({
      binary: env.PTM_TERRAFORM_BIN ?? env.TOFU_BIN ?? env.PTM_TERRAFORM_FLAVOR,
      flavor: env.PTM_TERRAFORM_FLAVOR,
      workdirRoot: env.PTM_WORKDIR_ROOT,
      // Opt-in, and ignored with a filesystem mirror: see the runner's header.
      ...(env.PTM_PLUGIN_CACHE_DIR ? { pluginCacheDir: env.PTM_PLUGIN_CACHE_DIR } : {}),
      ...(env.TF_CLI_CONFIG_FILE ? { cliConfigFile: env.TF_CLI_CONFIG_FILE } : {}),
      // A run that follows a dead worker's run waits this long for tofu to release the state lock.
      lockTimeout: "90s",
      // A state tofu could not save (errored.tfstate) survives the worker's work directory.
      erroredStates: database.erroredStates,
      ...(providerServers ? { providerServers } : {}),
    });
    const tool = await runner.version();
    const metrics = this.metrics;
    metrics.setBuildInfo({ version: operatorVersion(), tool: `${tool.flavor} ${tool.version}`, provider: env.PTM_PROVIDER_VERSION });
    // The deployment's event stream (SSE): workers add run and log events, the leading controller VM events.
    const publisher = new EventPublisher({ redis, key: eventsStreamKey(env.PTM_QUEUE_PREFIX), maxLen: env.PTM_EVENTS_MAXLEN, logger });
    const hasher = new StackHasher({
      providerVersion: env.PTM_PROVIDER_VERSION,
      toolVersion: `${tool.flavor} ${tool.version}`,
      stateSchema: env.PTM_STATE_SCHEMA,
    });
    const runQueue = new RunQueue({ connection: redisConnection(env.REDIS_URL), prefix: env.PTM_QUEUE_PREFIX, maxAttempts: env.PTM_MAX_ATTEMPTS });
    this.stops.push(() => runQueue.close());
    metrics.setQueueDepthSource(() => runQueue.depth());

    if (this.o.roles.includes("worker")) {
      const stateEncryption = StateEncryption.fromEnv(env, this.kubeConfig);
      const processor = createRunProcessor(env, redis, {
        stateEncryption,
        vms,
        status,
        events,
        connections,
        hasher,
        runner,
        runs: database.runs,
        plans: database.plans,
        workerId: this.identity,
        logger: logger.child({ role: "worker" }),
        shutdownSignal: this.shutdown.signal,
        stream: publisher,
        metrics,
        outputs: new OutputWriter(this.kubeConfig, events),
      });
      const worker = new Worker<RunJob>(RUN_QUEUE, (job, token) => processor.process(job, token), {
        connection: redisConnection(env.REDIS_URL),
        prefix: env.PTM_QUEUE_PREFIX,
        concurrency: env.PTM_WORKER_CONCURRENCY,
        // A dead worker's job returns to the queue after its lock lapses; allow several such
        // recoveries before BullMQ gives up on the job.
        lockDuration: env.PTM_JOB_LOCK_DURATION,
        stalledInterval: Math.max(1000, Math.floor(env.PTM_JOB_LOCK_DURATION / 2)),
        maxStalledCount: 5,
      });
      worker.on("error", (err) => logger.warn({ err }, "worker connection error"));
      this.worker = worker;
      this.stops.push(() => this.closeWorker(worker));
      logger.info(
        { concurrency: env.PTM_WORKER_CONCURRENCY, tool: `${tool.flavor} ${tool.version}`, providers: runner.pluginCacheNote, stateEncryption: stateEncryption.describe() },
        "worker started",
      );
    }

    if (this.o.roles.includes("controller")) {
      const connectionReconciler = new ConnectionReconciler({
        connections: connectionsApi,
        status: new StatusWriter<ProxmoxConnectionStatus, ProxmoxConnectionObject>(connectionsApi),
        resolver: connections,
        events,
        logger: logger.child({ role: "controller" }),
        readyIntervalMs: env.PTM_CONNECTION_CHECK_INTERVAL,
        ownedUids: () => (this.controller?.vmCache.isSynced ? new Set(this.controller.vmCache.list().map((vm) => vm.metadata.uid)) : undefined),
        metrics,
      });
      // The controller resolves from its informer and keeps tokens per connection version, so a
      // resync reads nothing per VM; workers keep reading a run's token afresh.
      const cachedConnections = new ConnectionResolver(this.kubeConfig, connectionPolicyFromEnv(env, this.o.redactor), {
        connections: () => this.controller?.connectionCache,
        tokens: new TokenCache(),
      });
      const reconciler = new VmReconciler({
        vms,
        status,
        events,
        connections: cachedConnections,
        vmCache: (namespace, name) => this.controller?.vmCache.get(name, namespace),
        queue: runQueue,
        hasher,
        gate: new RunGate(connectionReconciler, cachedConnections),
        plans: database.plans,
        logger: logger.child({ role: "controller" }),
        driftIntervalMs: env.PTM_DRIFT_INTERVAL,
        ...(env.PTM_DRIFT_BY_DIGEST ? { driftProbe: new DigestDriftProbe({ clientOf: proxmoxClient }) } : {}),
        driftBackstopMs: env.PTM_DRIFT_FULL_PLAN_INTERVAL,
        onDriftCheck: (result) => metrics.observeDriftCheck(result),
      });
      const queueEvents = runQueue.events();
      this.stops.push(() => queueEvents.close());
      // ProxmoxVMSets: their own informer; their VMs' events come from the VM controller's informer.
      const sets = new CustomObjects<ProxmoxVMSetObject>(this.kubeConfig, PROXMOX_VM_SET.plural);
      const vmSets = new VmSetController({
        kubeConfig: this.kubeConfig,
        sets,
        reconciler: new VmSetReconciler({
          kubeConfig: this.kubeConfig,
          sets,
          status: new StatusWriter<ProxmoxVMSetStatus, ProxmoxVMSetObject>(sets),
          vms,
          events,
          logger: logger.child({ role: "controller", kind: PROXMOX_VM_SET.kind }),
        }),
        logger: logger.child({ role: "controller" }),
        ...(env.PTM_NAMESPACE ? { namespaces: env.PTM_NAMESPACE.split(",").map((n) => n.trim()).filter((n) => n !== "") } : {}),
        resyncIntervalMs: env.PTM_RESYNC_INTERVAL,
      });
      logger.info({ role: "controller", watching: describeWatched(watched) }, `managing ProxmoxVMs in ${describeWatched(watched)}`);
      const controller = new Controller({
        kubeConfig: this.kubeConfig,
        vms,
        connections: connectionsApi,
        reconciler,
        connectionReconciler,
        queueEvents,
        logger: logger.child({ role: "controller" }),
        ...(watched ? { namespaces: watched } : {}),
        resyncIntervalMs: env.PTM_RESYNC_INTERVAL,
        onReconcile: (result, seconds) => metrics.observeReconcile(result, seconds),
        onVmEvent: (vm, kind) => {
          void publisher.vmChanged(vm, kind);
          vmSets.vmChanged(vm);
        },
      });
      this.controller = controller;
      if (!this.o.roles.includes("sidecar")) metrics.setVmSource(() => controller.vmCache.list());
      const lead = async () => {
        await controller.start();
        this.stops.push(() => controller.stop());
        await vmSets.start();
        this.stops.push(() => vmSets.stop());
      };
      if (env.PTM_LEADER_ELECTION) {
        const elector = new LeaderElector({
          kubeConfig: this.kubeConfig,
          namespace: env.PTM_LEASE_NAMESPACE,
          name: env.PTM_LEASE_NAME,
          identity: this.identity,
          logger,
        });
        this.elector = elector;
        this.stops.push(() => elector.stop());
        void elector.lost.then(() => {
          logger.error("leadership lost: stopping the controller");
          void this.stop();
        });
        // Acquire in the background: a standby process keeps its other roles running meanwhile.
        void elector.acquire().then(() => (this.stopping ? undefined : lead()));
      } else {
        await lead();
      }
    }

    if (this.o.roles.includes("sidecar")) {
      // Loaded only here: controller and worker processes do not load Express (faster start).
      const { Sidecar } = await import("./http/sidecar.js");
      const sidecar = new Sidecar({
        // The sidecar reads one namespace or all: with several watched namespaces it reads all.
        env: watched && watched.length > 1 ? { ...env, PTM_NAMESPACE: undefined } : env,
        logger: logger.child({ role: "sidecar" }),
        kubeConfig: this.kubeConfig,
        vms,
        connections: connectionsApi,
        redis,
        database,
        metrics,
        version: operatorVersion(),
        enqueue: (job) => runQueue.enqueue(job),
      });
      this.sidecar = sidecar;
      this.stops.push(() => sidecar.stop());
      await sidecar.start();
      this.sidecarUrl = sidecar.url;
    }

    if (env.PTM_METRICS_PORT !== undefined) {
      const { MetricsServer } = await import("./http/metrics-server.js");
      const server = new MetricsServer({
        metrics,
        port: env.PTM_METRICS_PORT,
        host: env.PTM_SIDECAR_HOST,
        logger,
        ...(env.PTM_SIDECAR_READ_TOKEN ? { readToken: env.PTM_SIDECAR_READ_TOKEN } : {}),
      });
      this.stops.push(() => server.stop());
      await server.start();
      this.metricsUrl = server.url;
    }
  }

  /** Stops roles in reverse start order; idempotent. Active runs get the shutdown grace to finish. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      for (const stop of this.stops.reverse()) {
        try {
          await stop();
        } catch (error) {
          this.o.logger.warn({ err: error }, "error while stopping");
        }
      }
    })());
  }

  private async closeWorker(worker: Worker<RunJob>): Promise<void> {
    const grace = setTimeout(() => {
      this.o.logger.warn("shutdown grace exceeded: interrupting active Terraform runs");
      this.shutdown.abort(new Error("worker shutting down"));
    }, this.o.env.PTM_SHUTDOWN_GRACE);
    try {
      await worker.close();
    } finally {
      clearTimeout(grace);
    }
  }
}

function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
