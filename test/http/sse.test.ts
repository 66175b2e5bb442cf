import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareStreamIds } from "../../src/events/stream-id.js";
import { kubectl } from "../support/kube.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { platformEnv } from "../support/platform-env.js";
import { SseClient, type SseMessage } from "./sse-client.js";
import { vmManifest } from "./vm-manifest.js";

/**
 * The SSE stream against a real operator: events of a real VM's life, a client that disconnects
 * and resumes with Last-Event-ID (exactly the missed events, once, in order, then live ones),
 * filters, heartbeats and the reset for an id that is no longer kept.
 */
// One scenario, in order: later steps resume from ids and clients the earlier ones left.
describe.sequential("SSE stream, end to end", () => {
  const h = new OperatorHarness({ sidecar: true, env: { PTM_SSE_HEARTBEAT: "1s" } });
  guardOperatorHarness(h);
  let redis: Redis;
  /** Connected from the start to the end: every event, the reference for the others. */
  let control: SseClient;
  const clients: SseClient[] = [];
  const url = (query = "") => `${h.sidecarUrl}/api/v1/events${query}`;
  const connect = async (query = "", headers: Record<string, string> = {}) => {
    const c = await SseClient.connect(url(query), headers);
    clients.push(c);
    return c;
  };
  const json = (m: SseMessage) => JSON.parse(m.data);
  const isReadyVm = (generation: number) => (m: SseMessage) =>
    m.event === "vm" &&
    json(m).vm.status.observedGeneration === generation &&
    json(m).vm.status.conditions?.some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
  const finishedRun = (generation: number) => (m: SseMessage) => m.event === "run" && json(m).generation === generation && json(m).finishedAt !== null;
  /** The stream as Redis has it: ids after `after`. */
  const streamIds = async (after: string) => ((await redis.xrange(`${h.prefix}:events`, `(${after}`, "+")) as [string, string[]][]).map(([id]) => id);

  beforeAll(async () => {
    await h.start();
    redis = new Redis(platformEnv().REDIS_URL);
    control = await connect();
  });
  afterAll(async () => {
    if (process.env.PTM_TEST_SSE_DUMP) for (const m of control.messages) console.log(m.id, m.event, m.data.slice(0, 160));
    for (const c of clients) c.close();
    redis?.disconnect();
    await h.close();
  });

  let lastSeen: string;
  let firstClient: SseClient;

  it("streams a VM's life: vm, run and log events, each with an id, in order", async () => {
    firstClient = await connect();
    expect(firstClient.retry).toBe(3000);
    await h.apply(vmManifest("web", {}, { app: "web" }));
    await firstClient.waitFor((c) => c.messages.some(isReadyVm(1)) && c.messages.some(finishedRun(1)), 90_000, "web Ready (generation 1)");

    const messages = firstClient.messages;
    expect(messages.length).toBeGreaterThan(3);
    expect(messages.filter((m) => m.id === undefined)).toEqual([]);
    const ids = messages.map((m) => m.id!);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort(compareStreamIds)).toEqual(ids);

    const runs = firstClient.of("run").map(json);
    expect(runs[0]).toMatchObject({ namespace: h.namespace, name: "web", action: "apply", status: "running", generation: 1, finishedAt: null });
    expect(runs.at(-1)).toMatchObject({ id: runs[0].id, status: "succeeded", addCount: 1 });
    expect(runs[0]).not.toHaveProperty("worker");
    const logs = firstClient.of("log").map(json);
    expect(logs.length).toBeGreaterThan(3);
    expect(logs[0]).toMatchObject({ runId: runs[0].id, seq: 1, level: "info", type: "run", namespace: h.namespace, name: "web" });
    expect(logs[0].message).toMatch(/^apply run started/);
    expect(logs.map((l) => l.seq)).toEqual(logs.map((_, i) => i + 1));
    // The run's start comes before its log lines, its finish after the last one.
    const index = (p: (m: SseMessage) => boolean) => messages.findIndex(p);
    expect(index((m) => m.event === "run")).toBeLessThan(index((m) => m.event === "log"));
    expect(messages.findLastIndex((m) => m.event === "log")).toBeLessThan(messages.findLastIndex((m) => m.event === "run"));

    const vms = firstClient.of("vm").map(json);
    expect(vms[0]).toMatchObject({ type: "upsert", vm: { namespace: h.namespace, name: "web", generation: 1, nodeName: "pve1" } });
    expect(vms.map((v) => v.vm.status.state)).toContain("Provisioning");
    expect(vms.at(-1).vm.status).toMatchObject({ state: "Running", observedGeneration: 1 });

    // The very same events reached the client connected before.
    await control.waitFor((c) => c.messages.length >= messages.length);
    expect(control.messages.slice(0, messages.length)).toEqual(messages);
    lastSeen = firstClient.lastEventId!;
    expect(lastSeen).toBe(ids.at(-1));
  });

  it("resumes after a disconnect with exactly the missed events, in order, then live ones", async () => {
    firstClient.close();
    // Events happen while the client is away: a spec change, its run, its log, the new status.
    await h.apply(vmManifest("web", { memory: { dedicated: 768 } }, { app: "web" }));
    await h.waitForReady("web", 2);
    await control.waitFor((c) => c.messages.some(isReadyVm(2)) && c.messages.some(finishedRun(2)), 60_000, "web Ready (generation 2)");
    const missed = control.messages.filter((m) => compareStreamIds(m.id!, lastSeen) > 0);
    expect(missed.length).toBeGreaterThan(5);
    expect(missed.map((m) => m.event)).toEqual(expect.arrayContaining(["vm", "run", "log"]));
    // What the control client saw is what the stream holds.
    expect(missed.map((m) => m.id)).toEqual((await streamIds(lastSeen)).slice(0, missed.length));

    const resumed = await connect("", { "Last-Event-ID": lastSeen });
    await resumed.waitFor((c) => c.messages.length >= missed.length, 30_000, `${missed.length} missed events`);
    expect(resumed.messages.slice(0, missed.length)).toEqual(missed);

    // Live events continue on the same connection, after the missed ones, without a repeat.
    await h.apply(vmManifest("web", { memory: { dedicated: 1024 } }, { app: "web" }));
    await resumed.waitFor((c) => c.messages.some(isReadyVm(3)) && c.messages.some(finishedRun(3)), 60_000, "web Ready (generation 3)");
    await control.waitFor((c) => c.messages.some(finishedRun(3)) && c.messages.some(isReadyVm(3)));
    const ids = resumed.messages.map((m) => m.id!);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.filter((id) => compareStreamIds(id, lastSeen) <= 0)).toEqual([]);
    const controlAfter = control.messages.filter((m) => compareStreamIds(m.id!, lastSeen) > 0);
    const n = Math.min(controlAfter.length, resumed.messages.length);
    expect(n).toBeGreaterThan(missed.length);
    expect(resumed.messages.slice(0, n)).toEqual(controlAfter.slice(0, n));

    // The same through ?lastEventId= (for clients that cannot set the header).
    const viaQuery = await connect(`?lastEventId=${encodeURIComponent(lastSeen)}`);
    await viaQuery.waitFor((c) => c.messages.length >= missed.length);
    expect(viaQuery.messages.slice(0, missed.length)).toEqual(missed);
  });

  it("filters by run, by namespace and name, and keeps filtered clients' resume point current", async () => {
    const run = control.of("run").map(json).find((r) => r.generation === 2)!;
    const byRun = await connect(`?run=${run.id}&lastEventId=${encodeURIComponent(lastSeen)}`);
    const expected = control.messages.filter((m) => (m.event === "run" && json(m).id === run.id) || (m.event === "log" && json(m).runId === run.id));
    expect(expected.length).toBeGreaterThan(3);
    await byRun.waitFor((c) => c.messages.length >= expected.length);
    expect(byRun.messages).toEqual(expected);

    const byName = await connect(`?namespace=${h.namespace}&name=web&lastEventId=${encodeURIComponent(lastSeen)}`);
    const all = control.messages.filter((m) => compareStreamIds(m.id!, lastSeen) > 0);
    await byName.waitFor((c) => c.messages.length >= all.length);
    expect(byName.messages.slice(0, all.length)).toEqual(all);

    const elsewhere = await connect(`?namespace=somewhere-else&lastEventId=${encodeURIComponent(lastSeen)}`);
    // Nothing matches, but the resume point moves to the stream's end (an id-only line) and heartbeats come.
    await elsewhere.waitFor((c) => c.lastEventId === control.lastEventId && c.comments.includes("hb"), 10_000, "a heartbeat");
    expect(elsewhere.messages).toEqual([]);
  });

  it("tells a client whose Last-Event-ID is not in the stream to reset", async () => {
    const stale = await connect("", { "Last-Event-ID": "1-0" });
    await stale.waitFor((c) => c.messages.length >= 1);
    expect(stale.messages[0]!.event).toBe("reset");
    expect(json(stale.messages[0]!).lastEventId).toBe(stale.messages[0]!.id);
    const garbage = await connect("", { "Last-Event-ID": "not-an-id" });
    await garbage.waitFor((c) => c.messages.length >= 1);
    expect(garbage.messages[0]!.event).toBe("reset");
    await expect(connect("?lastEventId=not-an-id")).rejects.toThrow(/HTTP 400/);
  });

  it("sends the delete of a VM and counts its clients", async () => {
    await kubectl(["delete", "-n", h.namespace, "pvm", "web", "--wait=false"]);
    await control.waitFor((c) => c.messages.some((m) => m.event === "vm" && json(m).type === "delete"), 90_000, "the VM's delete");
    const destroy = control.of("run").map(json).filter((r) => r.action === "destroy");
    expect(destroy.at(-1)).toMatchObject({ status: "succeeded" });
    const text = await h.app!.metrics.text();
    const open = clients.filter((c) => !c.ended).length;
    expect(text).toContain(`ptm_sse_clients ${open}`);
  });
});
