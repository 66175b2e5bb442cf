import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUNS_MAX_LIMIT } from "../../src/http/query.js";
import { operatorVersion } from "../../src/telemetry/build-info.js";
import type { ProxmoxConnectionObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { platformEnv } from "../support/platform-env.js";
import { waitFor } from "../support/wait.js";
import { vmManifest } from "./vm-manifest.js";

/**
 * The sidecar's REST API, /metrics, /healthz and /readyz against a real operator (controller,
 * worker and sidecar in one App): a VM is created and changed end to end, then the answers are
 * checked against what the operator did.
 */
const READ = `read-${randomUUID()}`;
const ADMIN = `admin-${randomUUID()}`;

describe("sidecar REST API and metrics, end to end", () => {
  const h = new OperatorHarness({ sidecar: true, env: { PTM_SIDECAR_READ_TOKEN: READ, PTM_SIDECAR_ADMIN_TOKEN: ADMIN } });
  guardOperatorHarness(h);
  /** Every body the sidecar answered in this file: checked for secrets at the end. */
  const bodies: string[] = [];

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
  async function get(path: string, token: string | null = READ): Promise<{ status: number; body: any; headers: Headers; text: string }> {
    const res = await fetch(`${h.sidecarUrl}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    bodies.push(text);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body, headers: res.headers, text };
  }

  beforeAll(async () => {
    await h.start();
    await h.apply(vmManifest("web", {}, { app: "web" }));
    await h.waitForReady("web", 1);
    await h.apply(vmManifest("web", { memory: { dedicated: 1024 } }, { app: "web" }));
    await h.waitForReady("web", 2);
  });
  afterAll(() => h.close());

  it("lists the VM with its status from the informer cache, filtered by namespace and labels", async () => {
    const vm = (await h.getVm("web"))!;
    // The sidecar's informer may be a moment behind the API server.
    let res = await get("/api/v1/vms");
    for (let i = 0; i < 50 && res.body.items[0]?.status?.observedGeneration !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await get("/api/v1/vms");
    }
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body.items).toHaveLength(1);
    const view = res.body.items[0];
    expect(view).toMatchObject({
      namespace: h.namespace,
      name: "web",
      uid: vm.metadata.uid,
      generation: 2,
      creationTimestamp: vm.metadata.creationTimestamp,
      nodeName: "pve1",
      connectionName: "pve",
      status: { state: "Running", vmId: vm.status!.vmId, node: "pve1", observedGeneration: 2, lastRun: { action: "apply", result: "succeeded" } },
    });
    expect(view.status.conditions.find((c: { type: string }) => c.type === "Ready")).toMatchObject({ status: "True", reason: "Provisioned" });
    expect(Object.keys(view).sort()).toEqual(["connectionName", "creationTimestamp", "generation", "name", "namespace", "nodeName", "status", "uid"]);
    expect(view.status).not.toHaveProperty("specHash");

    expect((await get(`/api/v1/vms?namespace=${h.namespace}`)).body.items).toHaveLength(1);
    expect((await get("/api/v1/vms?namespace=some-other-namespace")).body.items).toEqual([]);
    expect((await get("/api/v1/vms?labelSelector=app%3Dweb")).body.items).toHaveLength(1);
    expect((await get("/api/v1/vms?labelSelector=app%20notin%20(web)")).body.items).toEqual([]);

    const one = await get(`/api/v1/namespaces/${h.namespace}/vms/web`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(view);
  });

  it("pages the VM's runs newest first with limit and cursor", async () => {
    const q = `namespace=${h.namespace}&name=web`;
    const all = await get(`/api/v1/runs?${q}`);
    expect(all.status).toBe(200);
    expect(all.body.nextCursor).toBeNull();
    const runs = all.body.items as { id: string; action: string; status: string; generation: number; createdAt: string; changeCount: number; addCount: number }[];
    expect(runs.map((r) => [r.action, r.status, r.generation])).toEqual([
      ["apply", "succeeded", 2],
      ["apply", "succeeded", 1],
    ]);
    expect(runs[0]!.changeCount).toBe(1);
    expect(runs[1]!.addCount).toBe(1);
    expect(Date.parse(runs[0]!.createdAt)).toBeGreaterThan(Date.parse(runs[1]!.createdAt));
    expect(Object.keys(runs[0]!).sort()).toEqual(
      ["action", "addCount", "attempt", "changeCount", "createdAt", "destroyCount", "error", "errorKind", "finishedAt", "generation", "id", "name", "namespace", "reason", "startedAt", "status"].sort(),
    );

    const first = await get(`/api/v1/runs?${q}&limit=1`);
    expect(first.body.items.map((r: { id: string }) => r.id)).toEqual([runs[0]!.id]);
    expect(typeof first.body.nextCursor).toBe("string");
    const second = await get(`/api/v1/runs?${q}&limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    expect(second.body.items.map((r: { id: string }) => r.id)).toEqual([runs[1]!.id]);
    expect(second.body.nextCursor).toBeNull();

    expect((await get(`/api/v1/runs?namespace=${h.namespace}&name=nothing-here`)).body).toEqual({ items: [], nextCursor: null });
    const one = await get(`/api/v1/runs/${runs[0]!.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(runs[0]);
  });

  it("lists a run's log lines in order, from a sequence number on", async () => {
    const [latest] = (await get(`/api/v1/runs?namespace=${h.namespace}&name=web&limit=1`)).body.items;
    const res = await get(`/api/v1/runs/${latest.id}/events`);
    expect(res.status).toBe(200);
    const items = res.body.items as { runId: string; seq: number; ts: string; level: string; type: string; message: string }[];
    expect(items.length).toBeGreaterThan(3);
    expect(items.map((e) => e.seq)).toEqual(items.map((_, i) => i + 1));
    expect(items[0]).toMatchObject({ runId: latest.id, seq: 1, level: "info", type: "run" });
    expect(items[0]!.message).toMatch(/^apply run started/);
    expect(items.at(-1)!.message).toMatch(/^applied: 0 added, 1 changed/);
    expect(Object.keys(items[0]!).sort()).toEqual(["level", "message", "runId", "seq", "ts", "type"]);

    const after = await get(`/api/v1/runs/${latest.id}/events?after=2&limit=2`);
    expect(after.body.items.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
  });

  it("answers bad parameters with 400 and a message, unknown things with 404", async () => {
    const unknownRun = randomUUID();
    const cursorMessage = "cursor: not a value returned as nextCursor by a previous page";
    // Whole messages: a check that passes on some other error of the same parameter proves nothing.
    const cases: [string, number, string][] = [
      ["/api/v1/runs?limit=abc", 400, `limit: must be an integer from 1 to ${RUNS_MAX_LIMIT}, got "abc"`],
      ["/api/v1/runs?limit=0", 400, `limit: must be an integer from 1 to ${RUNS_MAX_LIMIT}, got "0"`],
      ["/api/v1/runs?cursor=garbage", 400, cursorMessage],
      [`/api/v1/runs?cursor=${Buffer.from("2026-99-99 99:99:99+00|00000000-0000-4000-8000-000000000000").toString("base64url")}`, 400, cursorMessage],
      ["/api/v1/runs?namespace=Not_A_Namespace", 400, `namespace: "Not_A_Namespace" is not a valid namespace name (lower-case letters, digits and '-', at most 63)`],
      ["/api/v1/runs?limt=1", 400, 'unknown query parameter "limt"; allowed: namespace, name, limit, cursor'],
      ["/api/v1/vms?labelSelector=app%20in%20(web", 400, 'labelSelector: unbalanced "("'],
      ["/api/v1/events?run=not-a-uuid", 400, "run: must be a run id (a UUID)"],
      [`/api/v1/runs/${unknownRun}`, 404, `no run ${unknownRun}`],
      ["/api/v1/runs/not-a-run", 404, "no run not-a-run"],
      [`/api/v1/runs/${unknownRun}/events`, 404, `no run ${unknownRun}`],
      [`/api/v1/namespaces/${h.namespace}/vms/ghost`, 404, `no ProxmoxVM ${h.namespace}/ghost`],
      ["/api/v1/namespaces/nowhere/vms/web", 404, "no ProxmoxVM nowhere/web"],
      ["/api/v1/everything", 404, "no such endpoint: GET /api/v1/everything"],
    ];
    for (const [path, status, message] of cases) {
      const res = await get(path);
      expect(res.status, path).toBe(status);
      expect(res.body.error.message, path).toBe(message);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
    }
    const [latest] = (await get(`/api/v1/runs?namespace=${h.namespace}&name=web&limit=1`)).body.items;
    const negative = await get(`/api/v1/runs/${latest.id}/events?after=-1`);
    expect(negative.status).toBe(400);
    expect(negative.body.error.message).toBe(`after: must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got "-1"`);
  });

  it("needs the read token for reads and the admin token for changes", async () => {
    expect((await get("/api/v1/vms", null)).status).toBe(401);
    expect((await get("/api/v1/runs", "not-the-token-at-all")).status).toBe(401);
    expect((await get("/metrics", null)).status).toBe(401);
    expect((await get("/healthz", null)).status).toBe(200);
    const post = (token?: string) =>
      fetch(`${h.sidecarUrl}/api/v1/namespaces/${h.namespace}/vms/web/reconcile`, { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} });
    expect((await post()).status).toBe(401);
    expect((await post(READ)).status).toBe(403);
    const runsBefore = (await h.runsOf("web")).length;
    const ok = await post(ADMIN);
    expect(ok.status).toBe(202);
    const body = (await ok.json()) as { queued: boolean };
    bodies.push(JSON.stringify(body));
    expect(body).toEqual({ queued: true, message: "a run is queued" });
    // The manual run plans, finds nothing to change and leaves the VM Ready.
    const runs = await waitFor("the manual run to finish", async () => {
      const all = await h.runsOf("web");
      return all.length > runsBefore && all.at(-1)!.status !== "running" && all;
    });
    expect(runs).toHaveLength(runsBefore + 1);
    expect(runs.at(-1)).toMatchObject({ action: "apply", status: "no_changes" });
    await h.waitForReady("web", 2);
  });

  it("lists the connection with its health as the operator's check wrote it, and never its token", async () => {
    const pxc = JSON.parse(await kubectl(["get", "-n", h.namespace, "pxc", "pve", "-o", "json"])) as ProxmoxConnectionObject;
    const ready = pxc.status!.conditions!.find((c) => c.type === "Ready")!;
    // The sidecar's informer may be a moment behind the API server.
    const res = await waitFor("the sidecar to list the checked connection", async () => {
      const answer = await get("/api/v1/connections");
      return answer.status === 200 && answer.body.items[0]?.lastCheckTime === pxc.status!.lastCheckTime && answer;
    });
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body.items).toEqual([
      {
        namespace: h.namespace,
        name: "pve",
        endpoint: pxc.spec.endpoint,
        version: pxc.status!.version,
        ready: { status: "True", reason: "Connected", message: ready.message, lastTransitionTime: ready.lastTransitionTime },
        nodeCount: pxc.status!.nodeCount,
        nodesOnline: pxc.status!.inventory!.nodes.filter((n) => n.online).length,
        lastCheckTime: pxc.status!.lastCheckTime,
      },
    ]);
    expect((await get(`/api/v1/connections?namespace=${h.namespace}`)).body.items).toHaveLength(1);
    expect((await get("/api/v1/connections?namespace=some-other-namespace")).body.items).toEqual([]);
    expect((await get("/api/v1/connections?namespace=Bad_Name")).status).toBe(400);
    expect((await get("/api/v1/connections", null)).status).toBe(401);
    // The token's secret and the Secret it lives in never appear (the check's message names the
    // token id, as the connection's own status does: an id is not a credential).
    expect(res.text).not.toContain(pxc.spec.tokenSecretRef.name);
    expect(res.text).not.toContain(h.sim.token.split("=").at(-1)!);
    expect(Object.keys(res.body.items[0]).sort()).toEqual(["endpoint", "lastCheckTime", "name", "namespace", "nodeCount", "nodesOnline", "ready", "version"]);
  });

  it("reports ready with every dependency checked", async () => {
    const res = await get("/readyz", null);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("ready");
    expect(Object.keys(res.body.checks).sort()).toEqual(["connectionCache", "eventStream", "kubernetes", "postgres", "redis", "vmCache"]);
    for (const check of Object.values(res.body.checks) as { ok: boolean }[]) expect(check.ok).toBe(true);
  });

  it("serves /metrics that promtool accepts, with the run, reconcile, queue and VM series", async () => {
    // Wait until the last run's metrics are recorded (the run finishes before the status write).
    const deadline = Date.now() + 30_000;
    let text = "";
    while (Date.now() < deadline) {
      text = (await get("/metrics")).text;
      if (/^ptm_vms\{state="Running"\} 1$/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const promtool = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(promtool.error, "promtool is missing: scripts/platform up installs Debian's prometheus package").toBeUndefined();
    expect(`${promtool.stdout}${promtool.stderr}`.trim()).toBe("");
    expect(promtool.status).toBe(0);

    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('ptm_runs_total{action="apply",result="succeeded"}')).toBeGreaterThanOrEqual(2);
    expect(value('ptm_run_duration_seconds_count{action="apply",result="succeeded"}')).toBeGreaterThanOrEqual(2);
    expect(value('ptm_run_duration_seconds_sum{action="apply",result="succeeded"}')).toBeGreaterThan(0);
    expect(value('ptm_reconcile_total{result="success"}')).toBeGreaterThanOrEqual(2);
    // An auto-approved run is init (the shared data directory, the errored-state check) and one apply.
    for (const phase of ["init", "apply"]) {
      expect(value(`ptm_tofu_phase_duration_seconds_count{phase="${phase}",result="ok"}`), phase).toBeGreaterThanOrEqual(2);
    }
    expect(value("ptm_queue_wait_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(value('ptm_queue_jobs{state="waiting"}')).toBe(0);
    expect(value('ptm_vms{state="Running"}')).toBe(1);
    expect(value('ptm_vms{state="Failed"}')).toBe(0);
    expect(value("ptm_sse_clients")).toBe(0);
    const buildInfo = `ptm_build_info{version="${operatorVersion()}",tool="tofu ${platformEnv().PTM_TOFU_VERSION}",provider="${platformEnv().PTM_PROVIDER_VERSION}"} 1`;
    expect(text.split("\n")).toContain(buildInfo);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("puts no secret in any answer", async () => {
    const p = platformEnv();
    const dbPassword = decodeURIComponent(new URL(p.DATABASE_URL).password);
    const secrets = [h.sim.token, h.sim.token.split("=").at(-1)!, READ, ADMIN, dbPassword];
    for (const secret of secrets) expect(secret.length, "a secret this short would match by chance").toBeGreaterThanOrEqual(8);
    // Every kind of answer, asked for here (and whatever the other tests of this file collected).
    const [latest] = (await get(`/api/v1/runs?namespace=${h.namespace}&name=web&limit=1`)).body.items;
    for (const path of ["/api/v1/vms", "/api/v1/connections", `/api/v1/namespaces/${h.namespace}/vms/web`, `/api/v1/runs/${latest.id}`, `/api/v1/runs/${latest.id}/events`, "/api/v1/openapi.json", "/metrics", "/readyz", "/api/v1/nothing"]) {
      expect((await get(path)).status, path).not.toBe(401);
    }
    expect(bodies.length).toBeGreaterThanOrEqual(10);
    for (const body of bodies) for (const secret of secrets) expect(body.includes(secret)).toBe(false);
  });
});
