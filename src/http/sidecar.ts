import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { VersionApi, type KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { API_GROUP, API_VERSION, PROXMOX_CONNECTION, PROXMOX_VM } from "../api/group.js";
import type { Env } from "../config/env.js";
import { EventHub } from "../events/hub.js";
import { eventsStreamKey } from "../events/stream.js";
import type { RunJob } from "../queue/run-queue.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import { ResilientInformer } from "../kube/resilient-informer.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "../kube/types.js";
import type { Database } from "../store/database.js";
import type { Metrics } from "../telemetry/metrics.js";
import { checkReadiness } from "./health.js";
import { createHttpApp, SIDECAR_APPROVER, type HttpApp } from "./http-app.js";
import { createLimitedServer } from "./server-limits.js";

export interface SidecarOptions {
  env: Env;
  logger: Logger;
  kubeConfig: KubeConfig;
  vms: CustomObjects<ProxmoxVMObject>;
  /** ProxmoxConnections (list/watch only), for GET /api/v1/connections and the page's connections panel. */
  connections: CustomObjects<ProxmoxConnectionObject>;
  /** The process's shared Redis connection (history reads, readiness). */
  redis: Redis;
  database: Database;
  metrics: Metrics;
  version: string;
  enqueue: (job: RunJob) => Promise<boolean>;
  staticDir?: string;
}

/**
 * The `sidecar` role: its own ProxmoxVM informer (GET /vms and the VMs-by-state metric), its own
 * ProxmoxConnection informer (GET /connections), the event hub (one XREAD BLOCK reader for every
 * SSE client), and the HTTP server.
 */
export class Sidecar {
  readonly informer: ResilientInformer<ProxmoxVMObject>;
  readonly connectionInformer: ResilientInformer<ProxmoxConnectionObject>;
  readonly hub: EventHub;
  private readonly blocking: Redis;
  private http: HttpApp | undefined;
  private server: Server | undefined;
  private synced = false;
  private connectionsSynced = false;
  /** http://host:port once listening (127.0.0.1 when bound to every address). */
  url: string | undefined;

  constructor(private readonly o: SidecarOptions) {
    const { env } = o;
    const base = `/apis/${API_GROUP}/${API_VERSION}${env.PTM_NAMESPACE ? `/namespaces/${env.PTM_NAMESPACE}` : ""}`;
    this.informer = new ResilientInformer<ProxmoxVMObject>({
      kubeConfig: o.kubeConfig,
      path: `${base}/${PROXMOX_VM.plural}`,
      list: () => o.vms.list(env.PTM_NAMESPACE),
      onChange: () => undefined,
      resyncIntervalMs: env.PTM_RESYNC_INTERVAL,
      logger: o.logger,
      name: `sidecar-${PROXMOX_VM.plural}`,
    });
    this.connectionInformer = new ResilientInformer<ProxmoxConnectionObject>({
      kubeConfig: o.kubeConfig,
      path: `${base}/${PROXMOX_CONNECTION.plural}`,
      list: () => o.connections.list(env.PTM_NAMESPACE),
      onChange: () => undefined,
      resyncIntervalMs: env.PTM_RESYNC_INTERVAL,
      logger: o.logger,
      name: `sidecar-${PROXMOX_CONNECTION.plural}`,
    });
    this.blocking = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true, connectionName: "ptm-sidecar-events" });
    this.blocking.on("error", () => undefined); // reported by the hub's read loop
    this.hub = new EventHub({ redis: o.redis, blocking: this.blocking, key: eventsStreamKey(env.PTM_QUEUE_PREFIX), logger: o.logger });
  }

  async start(): Promise<void> {
    const { env, logger, metrics } = this.o;
    await this.hub.start();
    // Serve at once; /vms answers 503 until the first list arrives (the API server may be slow).
    void this.informer.start();
    void this.informer.waitForSync().then(() => (this.synced = true));
    void this.connectionInformer.start();
    void this.connectionInformer.waitForSync().then(() => (this.connectionsSynced = true));
    metrics.setVmSource(() => this.informer.list());
    const versionApi = this.o.kubeConfig.makeApiClient(VersionApi);
    this.http = createHttpApp({
      logger,
      metrics,
      version: this.o.version,
      vms: { list: (ns) => this.informer.list(ns), get: (name, ns) => this.informer.get(name, ns), synced: () => this.synced },
      connections: { list: (ns) => this.connectionInformer.list(ns), synced: () => this.connectionsSynced },
      runs: this.o.database.runs,
      diffs: this.o.database.plans,
      annotate: async (vm, annotations) => {
        await this.o.vms.annotate(vm.metadata.namespace, vm.metadata.name, annotations, SIDECAR_APPROVER);
      },
      events: this.hub,
      enqueue: this.o.enqueue,
      readiness: () =>
        checkReadiness({
          redis: () => this.o.redis.ping(),
          postgres: () => this.o.database.pool.query("select 1"),
          kubernetes: () => versionApi.getCode(),
          vmCache: async () => {
            if (!this.synced) throw new Error("not synced");
          },
          connectionCache: async () => {
            if (!this.connectionsSynced) throw new Error("not synced");
          },
          eventStream: async () => {
            if (!this.hub.healthy) throw new Error("not reading");
          },
        }),
      auth: {
        ...(env.PTM_SIDECAR_READ_TOKEN ? { readToken: env.PTM_SIDECAR_READ_TOKEN } : {}),
        ...(env.PTM_SIDECAR_ADMIN_TOKEN ? { adminToken: env.PTM_SIDECAR_ADMIN_TOKEN } : {}),
      },
      sse: {
        retryMs: 3000,
        heartbeatMs: env.PTM_SSE_HEARTBEAT,
        maxClients: env.PTM_SSE_MAX_CLIENTS,
        maxBufferedBytes: env.PTM_SSE_MAX_BUFFER,
        maxClientsPerAddress: env.PTM_SSE_MAX_CLIENTS_PER_ADDRESS,
        maxLifetimeMs: env.PTM_SSE_MAX_LIFETIME,
      },
      ...(this.o.staticDir ? { staticDir: this.o.staticDir } : {}),
    });
    const server = createLimitedServer(this.http.app, {
      headersTimeoutMs: env.PTM_HTTP_HEADERS_TIMEOUT,
      requestTimeoutMs: env.PTM_HTTP_REQUEST_TIMEOUT,
      maxConnections: env.PTM_HTTP_MAX_CONNECTIONS,
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(env.PTM_SIDECAR_PORT, env.PTM_SIDECAR_HOST, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const host = address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.url = `http://${host}:${address.port}`;
    logger.info({ url: this.url, readToken: Boolean(env.PTM_SIDECAR_READ_TOKEN), adminToken: Boolean(env.PTM_SIDECAR_ADMIN_TOKEN) }, "sidecar listening");
  }

  async stop(): Promise<void> {
    this.http?.close();
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), 3000);
      await closed;
      clearTimeout(timer);
    }
    await this.hub.stop();
    this.blocking.disconnect();
    await this.informer.stop();
    await this.connectionInformer.stop();
  }
}
