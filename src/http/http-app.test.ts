import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ANNOTATION, DISCARD_ANNOTATION } from "../api/group.js";
import type { EventBackend, HubSubscriber } from "../events/hub.js";
import type { RunJob } from "../queue/run-queue.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "../kube/types.js";
import type { Run } from "../store/run-store.js";
import { Metrics } from "../telemetry/metrics.js";
import { checkReadiness } from "./health.js";
import { createHttpApp, type HttpApp, type HttpAppDeps } from "./http-app.js";
import { CONTENT_SECURITY_POLICY } from "./security.js";

const READ = "read-token-0123456789";
const ADMIN = "admin-token-0123456789";
const RUN_ID = "11111111-2222-4333-8444-555555555555";

const vm = (name: string, labels: Record<string, string> = {}): ProxmoxVMObject =>
  ({
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1, labels, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { nodeName: "pve1" },
    status: { state: "Running" },
  }) as unknown as ProxmoxVMObject;

const run: Run = {
  id: RUN_ID,
  namespace: "ns",
  name: "web",
  uid: "uid-web",
  generation: 1,
  specHash: "h",
  action: "apply",
  status: "succeeded",
  reason: "spec",
  attempt: 1,
  jobId: "uid-web",
  worker: "worker-host-1",
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
  finishedAt: "2026-01-01T00:00:10.000Z",
  addCount: 1,
  changeCount: 0,
  destroyCount: 0,
  error: null,
  errorKind: null,
};

class QuietBackend implements EventBackend {
  subs = new Set<HubSubscriber>();
  position = () => "5-0";
  subscribe = (s: HubSubscriber) => void this.subs.add(s);
  unsubscribe = (s: HubSubscriber) => void this.subs.delete(s);
  range = async () => ({ entries: [], read: 0, lastId: undefined });
  resumable = async () => true;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(base: string, method: string, url: string, headers: Record<string, string> = {}, untilBytes?: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(url, base), { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
        if (untilBytes !== undefined && body.length >= untilBytes) {
          resolve({ status: res.statusCode!, headers: res.headers, body });
          req.destroy();
        }
      });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", (e) => (untilBytes !== undefined ? undefined : reject(e)));
    req.end();
  });
}

async function serve(deps: Partial<HttpAppDeps>): Promise<{ base: string; http: HttpApp; server: Server; enqueued: RunJob[] }> {
  const enqueued: RunJob[] = [];
  const http = createHttpApp({
    logger: pino({ level: "silent" }),
    metrics: new Metrics({ defaultMetrics: false }),
    version: "0.0.0-test",
    vms: {
      list: () => [vm("web", { app: "web" }), vm("db", { app: "db" })],
      get: (name) => (name === "web" ? vm("web") : undefined),
      synced: () => true,
    },
    runs: {
      list: async () => ({ runs: [run], nextCursor: null }),
      get: async (id) => (id === RUN_ID ? run : undefined),
      events: async () => [{ runId: RUN_ID, seq: 1, ts: "t", level: "info", type: "run", message: "started", data: { x: 1 } }],
    },
    events: new QuietBackend(),
    readiness: () => checkReadiness({ ok: async () => undefined }),
    enqueue: async (job) => {
      enqueued.push(job);
      return true;
    },
    auth: {},
    sse: { retryMs: 3000, heartbeatMs: 50, maxClients: 2, maxBufferedBytes: 65536 },
    ...deps,
  });
  const server = createServer(http.app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, http, server, enqueued };
}

async function shut(s: { http: HttpApp; server: Server }) {
  s.http.close();
  s.server.closeAllConnections();
  await new Promise((r) => s.server.close(r));
}

describe("sidecar HTTP app (no auth configured)", () => {
  let s: Awaited<ReturnType<typeof serve>>;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ptm-static-"));
    await writeFile(path.join(dir, "index.html"), "<!doctype html><title>t</title><script src=app.js></script>");
    s = await serve({ staticDir: dir });
  });
  afterAll(async () => {
    await shut(s);
    await rm(dir, { recursive: true, force: true });
  });

  it("sends the security headers, no-store on the API, and never CORS headers", async () => {
    const a = await call(s.base, "GET", "/api/v1/vms", { Origin: "https://evil.example" });
    expect(a.status).toBe(200);
    expect(a.headers["x-content-type-options"]).toBe("nosniff");
    expect(a.headers["x-frame-options"]).toBe("DENY");
    expect(a.headers["referrer-policy"]).toBe("no-referrer");
    expect(a.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(a.headers["cache-control"]).toBe("no-store");
    expect(a.headers["x-powered-by"]).toBeUndefined();
    const preflight = await call(s.base, "OPTIONS", "/api/v1/vms", { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" });
    for (const answer of [a, preflight]) {
      expect(Object.keys(answer.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    }
  });

  it("serves the status page with a CSP that allows only 'self'", async () => {
    const a = await call(s.base, "GET", "/");
    expect(a.status).toBe(200);
    expect(a.body).toContain("<title>t</title>");
    expect(a.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    expect(a.headers["content-security-policy"]).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it("lists VMs with namespace and label filters", async () => {
    const all = JSON.parse((await call(s.base, "GET", "/api/v1/vms")).body) as { items: { name: string }[] };
    expect(all.items.map((v) => v.name)).toEqual(["db", "web"]);
    const web = JSON.parse((await call(s.base, "GET", "/api/v1/vms?labelSelector=app%3Dweb")).body) as { items: { name: string }[] };
    expect(web.items.map((v) => v.name)).toEqual(["web"]);
    expect((await call(s.base, "GET", "/api/v1/vms?labelSelector=app%20in%20(x")).status).toBe(400);
  });

  it("answers unknown things with a JSON 404 and bad parameters with a JSON 400", async () => {
    for (const url of ["/api/v1/nope", "/api/v2/vms", "/api/v1/namespaces/ns/vms/ghost", "/api/v1/namespaces/BAD/vms/x", `/api/v1/runs/${RUN_ID.replace("1", "9")}`, "/api/v1/runs/xyz/events", "/nope.html"]) {
      const a = await call(s.base, "GET", url);
      expect(a.status, url).toBe(404);
      expect(JSON.parse(a.body).error.code, url).toBe("NotFound");
    }
    const bad = await call(s.base, "GET", "/api/v1/runs?limit=abc");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: { code: "BadRequest", message: 'limit: must be an integer from 1 to 500, got "abc"' } });
  });

  it("shows runs and log lines without worker names or structured data", async () => {
    const page = await call(s.base, "GET", "/api/v1/runs");
    expect(page.body).not.toContain("worker-host-1");
    expect(JSON.parse(page.body).nextCursor).toBeNull();
    const events = JSON.parse((await call(s.base, "GET", `/api/v1/runs/${RUN_ID}/events`)).body);
    expect(events).toEqual({ items: [{ runId: RUN_ID, seq: 1, ts: "t", level: "info", type: "run", message: "started" }] });
  });

  it("refuses changes when no admin token is configured", async () => {
    const a = await call(s.base, "POST", "/api/v1/namespaces/ns/vms/web/reconcile");
    expect(a.status).toBe(403);
    expect(s.enqueued).toEqual([]);
  });

  it("documents every route it serves", async () => {
    const doc = JSON.parse((await call(s.base, "GET", "/api/v1/openapi.json")).body) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const checked: string[] = [];
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const url = p.replace("{namespace}", "ns").replace("{name}", "web").replace("{id}", RUN_ID);
        const a = await call(s.base, method.toUpperCase(), url, {}, p === "/api/v1/events" ? 10 : undefined);
        // Served, and answered with one of the statuses the document lists for it.
        expect(a.body, `${method} ${p}`).not.toMatch(/no such endpoint/);
        expect(Object.keys(operation.responses), `${method} ${p} answered ${a.status}`).toContain(String(a.status));
        checked.push(`${method.toUpperCase()} ${p}`);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(["GET /api/v1/vms", "GET /api/v1/runs", "GET /api/v1/runs/{id}", "GET /api/v1/events"]));
  });

  it("streams SSE: retry hint, a resume point, heartbeats; limits clients", async () => {
    const a = await call(s.base, "GET", "/api/v1/events", {}, 40);
    expect(a.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(a.body.startsWith("retry: 3000\n\nid: 5-0\n\n: hb\n\n")).toBe(true);
    expect((await call(s.base, "GET", "/api/v1/events?run=x")).status).toBe(400);
  });

  it("reports readiness and liveness", async () => {
    expect((await call(s.base, "GET", "/healthz")).status).toBe(200);
    const ready = await call(s.base, "GET", "/readyz");
    expect(JSON.parse(ready.body)).toMatchObject({ status: "ready", checks: { ok: { ok: true } } });
  });
});

describe("sidecar HTTP app with tokens", () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve({
      auth: { readToken: READ, adminToken: ADMIN },
      readiness: () =>
        checkReadiness({
          postgres: async () => {
            throw new Error("password authentication failed for user ptm at db.internal");
          },
        }),
    });
  });
  afterAll(() => shut(s));

  it("needs the read (or admin) token for reads, in the Authorization header", async () => {
    const none = await call(s.base, "GET", "/api/v1/vms");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect((await call(s.base, "GET", "/api/v1/vms", { Authorization: "Bearer wrong-token-0000000" })).status).toBe(401);
    expect((await call(s.base, "GET", "/api/v1/vms", { Authorization: `Bearer ${READ}` })).status).toBe(200);
    expect((await call(s.base, "GET", "/api/v1/vms", { Authorization: `bearer ${ADMIN}` })).status).toBe(200);
    expect((await call(s.base, "GET", `/api/v1/vms?access_token=${READ}`)).status).toBe(401);
    expect((await call(s.base, "GET", "/metrics")).status).toBe(401);
    expect((await call(s.base, "GET", "/metrics", { Authorization: `Bearer ${READ}` })).status).toBe(200);
  });

  it("accepts ?access_token= on the SSE endpoint (EventSource cannot send headers)", async () => {
    expect((await call(s.base, "GET", "/api/v1/events")).status).toBe(401);
    const a = await call(s.base, "GET", `/api/v1/events?access_token=${READ}`, {}, 10);
    expect(a.status).toBe(200);
  });

  it("keeps health, the OpenAPI document and the page open", async () => {
    expect((await call(s.base, "GET", "/healthz")).status).toBe(200);
    expect((await call(s.base, "GET", "/api/v1/openapi.json")).status).toBe(200);
  });

  it("needs the admin token for changes; the read token is not enough", async () => {
    expect((await call(s.base, "POST", "/api/v1/namespaces/ns/vms/web/reconcile")).status).toBe(401);
    expect((await call(s.base, "POST", "/api/v1/namespaces/ns/vms/web/reconcile", { Authorization: `Bearer ${READ}` })).status).toBe(403);
    expect((await call(s.base, "POST", "/api/v1/namespaces/ns/vms/ghost/reconcile", { Authorization: `Bearer ${ADMIN}` })).status).toBe(404);
    const ok = await call(s.base, "POST", "/api/v1/namespaces/ns/vms/web/reconcile", { Authorization: `Bearer ${ADMIN}` });
    expect(ok.status).toBe(202);
    expect(JSON.parse(ok.body)).toEqual({ queued: true, message: "a run is queued" });
    expect(s.enqueued).toEqual([{ namespace: "ns", name: "web", uid: "uid-web", reason: "manual" }]);
  });

  it("says which readiness check fails without repeating the dependency's error", async () => {
    const a = await call(s.base, "GET", "/readyz");
    expect(a.status).toBe(503);
    expect(JSON.parse(a.body)).toMatchObject({ status: "not ready", checks: { postgres: { ok: false, error: "unavailable" } } });
    expect(a.body).not.toMatch(/password|db\.internal/);
  });
});

describe("GET /api/v1/connections", () => {
  const connection = (namespace: string, name: string, status?: Record<string, unknown>): ProxmoxConnectionObject =>
    ({
      metadata: { name, namespace, uid: `uid-${name}`, generation: 2 },
      spec: { endpoint: `https://${name}.example:8006/`, tokenSecretRef: { name: `${name}-token`, key: "token" }, insecureSkipTLSVerify: false, maxConcurrentJobsPerNode: 2 },
      ...(status ? { status } : {}),
    }) as unknown as ProxmoxConnectionObject;
  const checked = connection("b", "pve", {
    observedGeneration: 2,
    version: "9.2.11",
    tokenId: "ptm@pve!operator",
    nodeCount: 2,
    lastCheckTime: "2026-01-01T00:05:00Z",
    inventory: { nodes: [{ name: "pve1", online: true }, { name: "pve2", online: false }], storages: [], bridges: [], templates: [] },
    missingPrivileges: { "/vms/9000": ["VM.Clone"] },
    conditions: [{ type: "Ready", status: "True", reason: "Connected", message: `Proxmox VE 9.2.11: 1 of 2 nodes online, 0 templates, as ptm@pve!operator`, lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 2 }],
  });
  const fresh = connection("a", "lab");
  let synced = false;
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve({ connections: { list: (ns) => [checked, fresh].filter((c) => !ns || c.metadata.namespace === ns), synced: () => synced } });
  });
  afterAll(() => shut(s));

  it("answers 503 until the connection cache has loaded", async () => {
    const a = await call(s.base, "GET", "/api/v1/connections");
    expect(a.status).toBe(503);
    expect(a.headers["retry-after"]).toBe("1");
  });

  it("lists each connection's endpoint and health, sorted, and nothing else of it", async () => {
    synced = true;
    const a = await call(s.base, "GET", "/api/v1/connections");
    expect(a.status).toBe(200);
    const items = (JSON.parse(a.body) as { items: Record<string, unknown>[] }).items;
    expect(items.map((c) => `${c.namespace}/${c.name}`)).toEqual(["a/lab", "b/pve"]);
    expect(items[1]).toEqual({
      namespace: "b",
      name: "pve",
      endpoint: "https://pve.example:8006/",
      version: "9.2.11",
      ready: { status: "True", reason: "Connected", message: checked.status!.conditions![0]!.message, lastTransitionTime: "2026-01-01T00:00:00Z" },
      nodeCount: 2,
      nodesOnline: 1,
      lastCheckTime: "2026-01-01T00:05:00Z",
    });
    // Never checked yet: says so instead of leaving the fields out.
    expect(items[0]).toMatchObject({ version: null, nodeCount: null, nodesOnline: null, lastCheckTime: null, ready: { status: "Unknown", reason: "NotChecked" } });
    // The Secret reference and the token id are not part of the view.
    expect(a.body).not.toContain("lab-token");
    expect(a.body).not.toContain("tokenSecretRef");
    expect(a.body).not.toContain("tokenId");
  });

  it("filters by namespace and refuses unknown or malformed parameters", async () => {
    expect((JSON.parse((await call(s.base, "GET", "/api/v1/connections?namespace=a")).body) as { items: unknown[] }).items).toHaveLength(1);
    expect((await call(s.base, "GET", "/api/v1/connections?namespace=Not_A_Namespace")).status).toBe(400);
    expect((await call(s.base, "GET", "/api/v1/connections?name=pve")).status).toBe(400);
  });
});

describe("plans: GET /runs/{id}/plan, POST approve and discard", () => {
  const ADMIN_TOKEN = "admin-token-for-plans";
  const PENDING = "22222222-2222-4222-8222-222222222222";
  const waiting = (pendingPlan: boolean): ProxmoxVMObject =>
    ({
      ...vm("web"),
      status: {
        pendingApproval: { hash: "h2", runId: PENDING, add: 0, change: 1, destroy: 0 },
        ...(pendingPlan ? { pendingPlan: { runId: PENDING, specHash: "h2", approveWith: "h2", summary: "0 to add, 1 to change, 0 to destroy", changes: [] } } : {}),
      },
    }) as unknown as ProxmoxVMObject;
  let s: Awaited<ReturnType<typeof serve>>;
  let current: ProxmoxVMObject;
  const written: Record<string, string>[] = [];
  beforeAll(async () => {
    s = await serve({
      auth: { adminToken: ADMIN_TOKEN },
      vms: { list: () => [current], get: (name) => (name === "web" ? current : undefined), synced: () => true },
      diffs: { diffOf: async (id) => (id === RUN_ID ? { desired: { changes: [{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }] }, planned: null, planRunId: null } : undefined) },
      annotate: async (_vm, annotations) => void written.push(annotations),
    });
  });
  afterAll(() => shut(s));
  const post = (what: string, body: object, token = ADMIN_TOKEN) =>
    fetch(`${s.base}/api/v1/namespaces/ns/vms/web/${what}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  it("serves a run's diffs, null where none was recorded, 404 for an unknown run", async () => {
    const res = await fetch(`${s.base}/api/v1/runs/${RUN_ID}/plan`);
    expect(await res.json()).toEqual({
      runId: RUN_ID,
      specHash: "h",
      desired: { changes: [{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }] },
      planned: null,
      planRunId: null,
    });
    expect((await fetch(`${s.base}/api/v1/runs/33333333-3333-4333-8333-333333333333/plan`)).status).toBe(404);
  });

  it("approves the pending plan with its approveWith value, and refuses another run, no plan or no admin token", async () => {
    current = waiting(true);
    written.length = 0;
    expect((await post("approve", { runId: RUN_ID })).status).toBe(409);
    expect((await post("approve", {}, "wrong")).status).toBe(401);
    const ok = await post("approve", { runId: PENDING });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toMatchObject({ approved: true, runId: PENDING });
    expect(written).toEqual([{ [APPROVE_ANNOTATION]: "h2" }]);
    current = vm("web");
    expect((await post("approve", {})).status).toBe(409);
  });

  it("discards only a kept plan", async () => {
    written.length = 0;
    current = waiting(false);
    expect((await post("discard", {})).status).toBe(409);
    current = waiting(true);
    const ok = await post("discard", { runId: PENDING });
    expect(ok.status).toBe(202);
    expect(written).toEqual([{ [DISCARD_ANNOTATION]: PENDING }]);
  });
});
