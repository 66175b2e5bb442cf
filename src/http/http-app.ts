import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import express, { type Express, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { RunJob } from "../queue/run-queue.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "../kube/types.js";
import type { EventBackend } from "../events/hub.js";
import { canonicalStreamId } from "../events/stream-id.js";
import { toRunEventView, toRunView, toVmView } from "../events/views.js";
import { InvalidCursorError, type Run, type RunEvent, type RunPage } from "../store/run-store.js";
import type { RunDiff } from "../store/plan-store.js";
import type { Metrics } from "../telemetry/metrics.js";
import { toConnectionView } from "./connection-view.js";
import { badRequest, conflict, errorBody, errorHandler, notFound, notFoundHandler } from "./errors.js";
import { APPROVE_ANNOTATION, DISCARD_ANNOTATION } from "../api/group.js";
import type { ReadinessReport } from "./health.js";
import { matchesLabels } from "./label-selector.js";
import { openApiDocument } from "./openapi.js";
import { isNamespace, isObjectName, isUuid, parseConnectionListQuery, parseEventsQuery, parseRunEventsQuery, parseRunListQuery, parseVmListQuery } from "./query.js";
import { requireAdmin, requireRead, securityHeaders, type AuthOptions } from "./security.js";
import { SlotCounter } from "./slot-counter.js";
import { SseConnection } from "./sse.js";

/** The VMs the sidecar shows: its informer cache. */
export interface VmSource {
  list(namespace?: string): ReadonlyArray<ProxmoxVMObject>;
  get(name: string, namespace: string): ProxmoxVMObject | undefined;
  synced(): boolean;
}

/** The ProxmoxConnections the sidecar shows: its informer cache (read-only). */
export interface ConnectionSource {
  list(namespace?: string): ReadonlyArray<ProxmoxConnectionObject>;
  synced(): boolean;
}

/** The part of RunStore the API reads. */
export interface RunSource {
  list(filter: { namespace?: string; name?: string; limit: number; cursor?: string }): Promise<RunPage>;
  get(id: string): Promise<Run | undefined>;
  events(runId: string, afterSeq?: number, limit?: number): Promise<RunEvent[]>;
}

/** The part of PlanStore the API reads: a run's desired and planned change. */
export interface RunDiffSource {
  diffOf(runId: string): Promise<RunDiff | undefined>;
}

export interface SseSettings {
  retryMs: number;
  heartbeatMs: number;
  maxClients: number;
  maxBufferedBytes: number;
  /** Streams one client address may hold (default: no per-address limit). */
  maxClientsPerAddress?: number;
  /** A stream ends after this long and the client resumes (default: no limit). */
  maxLifetimeMs?: number;
}

export interface HttpAppDeps {
  logger: Logger;
  metrics: Metrics;
  version: string;
  vms: VmSource;
  /** Connections and their health; without it GET /api/v1/connections answers 503. */
  connections?: ConnectionSource;
  runs: RunSource;
  /** Writes the approve / discard annotation (admin endpoints); without it they answer 403. */
  annotate?: (vm: ProxmoxVMObject, annotations: Record<string, string>) => Promise<void>;
  /** Runs' diffs; without it GET /runs/{id}/plan answers with both diffs null. */
  diffs?: RunDiffSource;
  events: EventBackend;
  readiness: () => Promise<ReadinessReport>;
  /** Queues a run (the admin reconcile endpoint); returns false when one is queued or running already. */
  enqueue?: (job: RunJob) => Promise<boolean>;
  auth: AuthOptions;
  sse: SseSettings;
  /** The status page's static files (default: src/http/public). */
  staticDir?: string;
}

export interface HttpApp {
  app: Express;
  /** Connected SSE clients. */
  readonly connections: ReadonlySet<SseConnection>;
  /** Ends every SSE stream (clients reconnect elsewhere) and stops the heartbeat. */
  close(): void;
}

export const DEFAULT_SSE: SseSettings = { retryMs: 3000, heartbeatMs: 15_000, maxClients: 10_000, maxBufferedBytes: 256 * 1024 };

/**
 * The sidecar's Express application: REST under /api/v1, the SSE stream, /metrics, /healthz,
 * /readyz and the status page. Everything it reads comes in through `deps`, so tests can give it
 * fakes; src/http/sidecar.ts gives it the real informer, hub, store and checks.
 */
export function createHttpApp(deps: HttpAppDeps): HttpApp {
  const { logger, metrics, auth } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag"); // API answers are no-store; static files keep their own ETags
  app.set("query parser", "simple");
  app.use(securityHeaders());
  app.use((req, res, next) => {
    if (req.path === "/api/v1/events") return next();
    const started = performance.now();
    res.once("finish", () => {
      const route = req.route?.path !== undefined ? `${req.baseUrl}${String(req.route.path)}` : res.statusCode === 404 ? "unmatched" : "static";
      metrics.observeHttp(req.method, route, res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  });

  const connections = new Set<SseConnection>();
  const perAddress = new SlotCounter(deps.sse.maxClientsPerAddress ?? Number.POSITIVE_INFINITY);
  const read = requireRead(auth);
  const api = express.Router();
  // The approve and discard bodies ({ runId }) are tiny; nothing else reads a body.
  const smallJson = express.json({ limit: "1kb" });

  api.get("/openapi.json", (_req, res) => {
    res.json(openApiDocument(deps.version));
  });

  api.get("/vms", read, (req, res) => {
    const q = parseVmListQuery(req.query);
    if (!deps.vms.synced()) {
      res.status(503).setHeader("Retry-After", "1").json(errorBody("Unavailable", "the VM cache is still loading; try again in a moment"));
      return;
    }
    const items = deps.vms
      .list(q.namespace)
      .filter((vm) => !q.labelSelector || matchesLabels(q.labelSelector, vm.metadata.labels))
      .map(toVmView)
      .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
    res.json({ items });
  });

  api.get("/connections", read, (req, res) => {
    const q = parseConnectionListQuery(req.query);
    const source = deps.connections;
    if (!source?.synced()) {
      res.status(503).setHeader("Retry-After", "1").json(errorBody("Unavailable", "the connection cache is still loading; try again in a moment"));
      return;
    }
    const items = source
      .list(q.namespace)
      .map(toConnectionView)
      .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
    res.json({ items });
  });

  api.get("/namespaces/:namespace/vms/:name", read, (req, res) => {
    res.json(toVmView(findVm(deps.vms, param(req.params.namespace), param(req.params.name))));
  });

  api.post("/namespaces/:namespace/vms/:name/reconcile", requireAdmin(auth), async (req, res) => {
    const vm = findVm(deps.vms, param(req.params.namespace), param(req.params.name));
    if (!deps.enqueue) throw new Error("no run queue");
    const queued = await deps.enqueue({ namespace: vm.metadata.namespace, name: vm.metadata.name, uid: vm.metadata.uid, reason: "manual" });
    logger.info({ vm: `${vm.metadata.namespace}/${vm.metadata.name}`, queued }, "reconcile requested through the sidecar");
    res.status(202).json({ queued, message: queued ? "a run is queued" : "a run is already queued or running" });
  });

  api.post("/namespaces/:namespace/vms/:name/approve", requireAdmin(auth), smallJson, async (req, res) => {
    const vm = findVm(deps.vms, param(req.params.namespace), param(req.params.name));
    const pending = pendingOf(vm, req.body);
    const value = vm.status?.pendingPlan?.approveWith ?? vm.status!.pendingApproval!.hash;
    await annotateVm(deps, vm, { [APPROVE_ANNOTATION]: value });
    logger.info({ vm: `${vm.metadata.namespace}/${vm.metadata.name}`, runId: pending }, "plan approved through the sidecar");
    res.status(202).json({ approved: true, runId: pending, message: `plan ${pending} approved (${APPROVE_ANNOTATION}=${value}); a run applies it` });
  });

  api.post("/namespaces/:namespace/vms/:name/discard", requireAdmin(auth), smallJson, async (req, res) => {
    const vm = findVm(deps.vms, param(req.params.namespace), param(req.params.name));
    const pending = pendingOf(vm, req.body);
    if (!vm.status?.pendingPlan) throw conflict(`plan ${pending} was not kept, so there is nothing to discard; change the spec instead`);
    await annotateVm(deps, vm, { [DISCARD_ANNOTATION]: pending });
    logger.info({ vm: `${vm.metadata.namespace}/${vm.metadata.name}`, runId: pending }, "plan discarded through the sidecar");
    res.status(202).json({ discarded: true, runId: pending, message: `plan ${pending} discarded; nothing is applied` });
  });

  api.get("/runs", read, async (req, res) => {
    const q = parseRunListQuery(req.query);
    let page: RunPage;
    try {
      page = await deps.runs.list(q);
    } catch (error) {
      if (error instanceof InvalidCursorError) {
        throw badRequest("cursor: not a value returned as nextCursor by a previous page");
      }
      throw error;
    }
    res.json({ items: page.runs.map(toRunView), nextCursor: page.nextCursor });
  });

  api.get("/runs/:id", read, async (req, res) => {
    res.json(toRunView(await findRun(deps.runs, param(req.params.id))));
  });

  api.get("/runs/:id/plan", read, async (req, res) => {
    const run = await findRun(deps.runs, param(req.params.id));
    const diff = await deps.diffs?.diffOf(run.id);
    res.json({ runId: run.id, specHash: run.specHash, desired: diff?.desired ?? null, planned: diff?.planned ?? null, planRunId: diff?.planRunId ?? null });
  });

  api.get("/runs/:id/events", read, async (req, res) => {
    const q = parseRunEventsQuery(req.query);
    const run = await findRun(deps.runs, param(req.params.id));
    const events = await deps.runs.events(run.id, q.after, q.limit);
    res.json({ items: events.map(toRunEventView) });
  });

  api.get("/events", requireRead(auth, { allowQueryToken: true }), (req: Request, res: Response) => {
    const q = parseEventsQuery(req.query);
    // null: a Last-Event-ID header that is not one of our ids; the client is told to reset.
    let lastEventId: string | null | undefined = q.lastEventId;
    const header = req.get("last-event-id");
    if (lastEventId === undefined && header !== undefined && header.trim() !== "") lastEventId = canonicalStreamId(header) ?? null;
    if (req.method === "HEAD") {
      res.status(200).type("text/event-stream").end();
      return;
    }
    if (connections.size >= deps.sse.maxClients) {
      res.status(503).setHeader("Retry-After", "5").json(errorBody("Unavailable", "too many event stream clients on this sidecar; try again later"));
      return;
    }
    const address = req.socket.remoteAddress ?? "unknown";
    if (!perAddress.tryTake(address)) {
      res.status(429).setHeader("Retry-After", "5").json(errorBody("TooManyRequests", "too many event streams from your address; close one and try again"));
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true, 30_000);
    const connection = new SseConnection(res, q.filter, deps.events, {
      retryMs: deps.sse.retryMs,
      maxBufferedBytes: deps.sse.maxBufferedBytes,
      ...(deps.sse.maxLifetimeMs !== undefined ? { maxLifetimeMs: deps.sse.maxLifetimeMs } : {}),
      onClose: (c) => {
        connections.delete(c);
        perAddress.give(address);
      },
      onSlow: () => metrics.sseSlowDisconnect(),
    });
    connections.add(connection);
    connection.open(lastEventId).catch((error: unknown) => {
      logger.warn({ err: error }, "SSE stream failed; closing it (the client resumes)");
      connection.close();
    });
  });

  app.use("/api/v1", api);
  app.use("/api", notFoundHandler);

  app.get("/metrics", read, async (_req, res) => {
    const text = await metrics.text();
    res.setHeader("Content-Type", metrics.contentType);
    res.send(text);
  });
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const report = await deps.readiness();
    res.status(report.status === "ready" ? 200 : 503).json(report);
  });

  const staticDir = deps.staticDir ?? defaultStaticDir();
  app.use(express.static(staticDir, { index: "index.html", dotfiles: "ignore", redirect: false, fallthrough: true }));
  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  metrics.setSseClientsSource(() => connections.size);
  const heartbeat = setInterval(() => {
    for (const c of connections) c.heartbeat();
  }, deps.sse.heartbeatMs);
  heartbeat.unref();

  return {
    app,
    connections,
    close() {
      clearInterval(heartbeat);
      for (const c of [...connections]) c.close();
    },
  };
}

function findVm(vms: VmSource, namespace: string, name: string): ProxmoxVMObject {
  const vm = isNamespace(namespace) && isObjectName(name) ? vms.get(name, namespace) : undefined;
  if (!vm) throw notFound(`no ProxmoxVM ${namespace}/${name}`);
  return vm;
}

async function findRun(runs: RunSource, id: string): Promise<Run> {
  const run = isUuid(id) ? await runs.get(id.toLowerCase()) : undefined;
  if (!run) throw notFound(`no run ${id}`);
  return run;
}

/** The field manager the sidecar writes annotations as: managedFields, Events and run records name it. */
export const SIDECAR_APPROVER = "ptm-sidecar-admin-token";

/** The run id of the VM's pending plan; 409 when none waits or the body names another run. */
function pendingOf(vm: ProxmoxVMObject, body: unknown): string {
  const pending = vm.status?.pendingApproval?.runId;
  if (!pending) throw conflict(`no plan of ProxmoxVM ${vm.metadata.namespace}/${vm.metadata.name} waits for approval`);
  const asked = (body as { runId?: unknown } | undefined)?.runId;
  if (asked !== undefined && asked !== pending) throw conflict(`run ${String(asked)} is not the pending plan; the pending plan is run ${pending}`);
  return pending;
}

async function annotateVm(deps: HttpAppDeps, vm: ProxmoxVMObject, annotations: Record<string, string>): Promise<void> {
  if (!deps.annotate) throw new Error("this sidecar cannot write to the Kubernetes API");
  await deps.annotate(vm, annotations);
}

function param(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join("/") : (value ?? "");
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** src/http/public beside this file (from source), or the source tree's copy when run from dist/. */
function defaultStaticDir(): string {
  const candidates = ["./public/", "../../../src/http/public/"].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => existsSync(dir)) ?? candidates[0]!;
}
