import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFields, eventsStreamKey } from "../../src/events/stream.js";
import { SLOW_CLIENT_NOTE } from "../../src/http/sse.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { platformEnv } from "../support/platform-env.js";
import { SseClient } from "./sse-client.js";

/**
 * A client that stops reading is disconnected once PTM_SSE_MAX_BUFFER bytes are queued for it
 * (the sidecar's memory stays bounded); what it did receive is a gap-free prefix of the stream,
 * ending with a note, and reconnecting with its Last-Event-ID brings exactly the rest. The events
 * are added to the stream directly, as a worker would (the sidecar runs alone here).
 */
describe("SSE: a client that reads too slowly", () => {
  const h = new OperatorHarness({ roles: [], sidecar: true, connection: false, env: { PTM_SSE_MAX_BUFFER: "262144" } });
  guardOperatorHarness(h);
  let redis: Redis;
  const runId = randomUUID();
  let seq = 0;
  const payload = "x".repeat(16 * 1024);

  async function publish(n: number): Promise<void> {
    const pipeline = redis.pipeline();
    for (let i = 0; i < n; i++) {
      const data = { runId, seq: ++seq, ts: new Date().toISOString(), level: "info", type: "log", message: payload, namespace: h.namespace, name: "slow" };
      pipeline.xadd(eventsStreamKey(h.prefix), "*", ...encodeFields({ kind: "log", namespace: h.namespace, name: "slow", runId, data }));
    }
    await pipeline.exec();
  }

  const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await h.app!.metrics.text())?.[1]);

  beforeAll(async () => {
    await h.start();
    redis = new Redis(platformEnv().REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await h.close();
  });

  it("is disconnected with a note, got a gap-free prefix, and resumes with the rest", async () => {
    const slow = await SseClient.connect(`${h.sidecarUrl}/api/v1/events`);
    const healthy = await SseClient.connect(`${h.sidecarUrl}/api/v1/events`);
    await slow.waitFor((c) => c.lastEventId !== undefined);
    const start = slow.lastEventId!;
    slow.pause();

    // Up to 160 MiB: far more than the socket buffers on both ends hold. A round is over when the
    // healthy client has it all: the sidecar has then handed each event to every client.
    for (let round = 0; round < 100 && (await metric("ptm_sse_slow_disconnects_total")) < 1; round++) {
      await publish(100);
      await healthy.waitFor((c) => c.messages.length === seq, 60_000, `round ${round + 1} on the healthy client`);
    }
    expect(await metric("ptm_sse_slow_disconnects_total")).toBe(1);
    const total = seq;
    // The healthy client kept up and stays connected.
    await healthy.waitFor((c) => c.messages.length === total, 60_000, "every event on the healthy client");
    expect(healthy.ended).toBe(false);
    expect(await metric("ptm_sse_clients")).toBe(1);

    slow.resume();
    await slow.waitFor((c) => c.ended, 30_000, "the end of the slow client's stream");
    expect(slow.comments.at(-1)).toBe(SLOW_CLIENT_NOTE);
    const got = slow.messages.map((m) => JSON.parse(m.data).seq as number);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(total);
    expect(got).toEqual(got.map((_, i) => i + 1));
    const streamIds = ((await redis.xrange(eventsStreamKey(h.prefix), `(${start}`, "+")) as [string, string[]][]).map(([id]) => id);
    expect(slow.messages.map((m) => m.id)).toEqual(streamIds.slice(0, got.length));

    const resumed = await SseClient.connect(`${h.sidecarUrl}/api/v1/events`, { "Last-Event-ID": slow.lastEventId! });
    await resumed.waitFor((c) => c.messages.length >= total - got.length, 60_000, "the rest");
    const rest = resumed.messages.map((m) => JSON.parse(m.data).seq as number);
    expect([...got, ...rest]).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    resumed.close();
    healthy.close();
  });
});
