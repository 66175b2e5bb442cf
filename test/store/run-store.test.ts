import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { LATEST_MIGRATION } from "../../src/store/migrations.js";
import { InvalidCursorError } from "../../src/store/run-store.js";
import { platformEnv } from "../support/platform-env.js";

describe("RunStore against PostgreSQL", () => {
  const schema = `t_${randomBytes(4).toString("hex")}`;
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase(platformEnv().DATABASE_URL, schema);
  });
  afterAll(async () => {
    await db.pool.query(`drop schema if exists ${schema} cascade`);
    await db.close();
  });

  const newRun = (name: string, action: "apply" | "destroy" = "apply") => ({
    namespace: "ns",
    name,
    uid: randomUUID(),
    generation: 1,
    specHash: "h",
    action,
    reason: "create",
    attempt: 1,
    jobId: randomUUID(),
    worker: "w1",
  });

  it("migrates idempotently, also from two processes at once", async () => {
    const other = await Promise.all([openDatabase(platformEnv().DATABASE_URL, schema), openDatabase(platformEnv().DATABASE_URL, schema)]);
    await Promise.all(other.map((d) => d.close()));
    const { rows } = await db.pool.query(`select version from ${schema}.schema_migrations`);
    // Each migration recorded once, in order, however many processes ran them.
    expect(rows.map((r) => r.version).sort((a: number, b: number) => a - b)).toEqual(Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1));
  });

  it("records a run from start to finish", async () => {
    const run = await db.runs.start(newRun("a"));
    expect(run).toMatchObject({ status: "running", action: "apply", name: "a" });
    const done = await db.runs.finish(run.id, { status: "succeeded", addCount: 1, changeCount: 0, destroyCount: 0 });
    expect(done).toMatchObject({ status: "succeeded", addCount: 1 });
    expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.startedAt!));
    expect(await db.runs.get(run.id)).toEqual(done);
    expect(await db.runs.get("not-a-uuid")).toBeUndefined();
  });

  it("keeps log lines in order and returns those after a sequence number", async () => {
    const run = await db.runs.start(newRun("b"));
    const ts = new Date().toISOString();
    await db.runs.appendEvents([3, 1, 2].map((seq) => ({ runId: run.id, seq, ts, level: "info", type: "log", message: `line ${seq}` })));
    // A retried flush writes the same lines again: no duplicates.
    await db.runs.appendEvents([{ runId: run.id, seq: 2, ts, level: "info", type: "log", message: "line 2" }]);
    expect((await db.runs.events(run.id)).map((e) => e.message)).toEqual(["line 1", "line 2", "line 3"]);
    expect((await db.runs.events(run.id, 1)).map((e) => e.seq)).toEqual([2, 3]);
  });

  it("pages newest first without gaps or repeats", async () => {
    for (let i = 0; i < 7; i++) await db.runs.start(newRun("paged"));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await db.runs.list({ name: "paged", limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.runs.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const all = await db.runs.list({ name: "paged", limit: 100 });
    expect(all.runs.map((r) => r.id)).toEqual(seen);
    const created = all.runs.map((r) => Date.parse(r.createdAt));
    expect([...created].sort((x, y) => y - x)).toEqual(created);
  });

  it("refuses a cursor it did not make", async () => {
    await expect(db.runs.list({ limit: 3, cursor: "bogus" })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it("closes runs a dead worker left running when the job is retried", async () => {
    const abandoned = await db.runs.start(newRun("c"));
    const retry = await db.runs.start({ ...newRun("c"), jobId: abandoned.jobId!, attempt: 2 });
    expect(await db.runs.failAbandoned(abandoned.jobId!, retry.id)).toBe(1);
    expect(await db.runs.get(abandoned.id)).toMatchObject({ status: "failed", errorKind: "abandoned" });
    expect(await db.runs.get(retry.id)).toMatchObject({ status: "running" });
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    await expect(openDatabase(platformEnv().DATABASE_URL, "x; drop table y")).rejects.toThrow(/invalid schema name/);
  });
});

