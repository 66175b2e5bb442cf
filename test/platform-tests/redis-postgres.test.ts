import { randomUUID } from "node:crypto";
import { Queue, QueueEvents, Worker } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { platformEnv } from "../support/platform-env.js";

describe("the platform's Redis", () => {
  const queueName = `smoke-${randomUUID()}`;
  const connection = () => new Redis(platformEnv().REDIS_URL, { maxRetriesPerRequest: null });
  const clients: Redis[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const client of clients) client.disconnect();
  });

  it("runs with noeviction, as BullMQ requires", async () => {
    const client = connection();
    clients.push(client);
    const [, policy] = (await client.config("GET", "maxmemory-policy")) as [string, string];
    expect(policy).toBe("noeviction");
  });

  it("carries a BullMQ job from a queue to a worker and its result back", async () => {
    const queue = new Queue(queueName, { connection: connection() });
    const events = new QueueEvents(queueName, { connection: connection() });
    const worker = new Worker<{ a: number; b: number }, number>(queueName, async (job) => job.data.a * job.data.b, {
      connection: connection(),
    });
    closers.push(
      () => queue.obliterate({ force: true }).then(() => queue.close()),
      () => events.close(),
      () => worker.close(),
    );
    await events.waitUntilReady();
    const job = await queue.add("multiply", { a: 6, b: 7 });
    await expect(job.waitUntilFinished(events, 30_000)).resolves.toBe(42);
  });
});

describe("the platform's PostgreSQL", () => {
  it("answers queries in a schema of its own", async () => {
    const client = new pg.Client({ connectionString: platformEnv().DATABASE_URL });
    await client.connect();
    const schema = `smoke_${randomUUID().replaceAll("-", "")}`;
    try {
      await client.query(`create schema ${schema}`);
      await client.query(`create table ${schema}.t (id serial primary key, v text not null)`);
      await client.query(`insert into ${schema}.t (v) values ($1), ($2)`, ["a", "b"]);
      const { rows } = await client.query<{ v: string }>(`select v from ${schema}.t order by id`);
      expect(rows.map((r) => r.v)).toEqual(["a", "b"]);
      const { rows: version } = await client.query<{ server_version_num: string }>("show server_version_num");
      expect(Number(version[0]!.server_version_num)).toBeGreaterThanOrEqual(150000);
    } finally {
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
  });

  it("refuses a wrong password", async () => {
    const url = new URL(platformEnv().DATABASE_URL);
    url.password = "wrong";
    const client = new pg.Client({ connectionString: url.toString() });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
    await client.end().catch(() => undefined);
  });
});
