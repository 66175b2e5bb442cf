import type pg from "pg";
import { assertIdentifier } from "./migrations.js";

export type RunAction = "plan" | "apply" | "destroy" | "forget";
export type RunStatus = "queued" | "running" | "succeeded" | "no_changes" | "failed";

export interface Run {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  specHash: string;
  action: RunAction;
  status: RunStatus;
  reason: string;
  attempt: number;
  jobId: string | null;
  worker: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  addCount: number | null;
  changeCount: number | null;
  destroyCount: number | null;
  error: string | null;
  errorKind: string | null;
}

export interface RunEvent {
  runId: string;
  seq: number;
  ts: string;
  level: string;
  type: string;
  message: string;
  data?: Record<string, unknown> | null;
}

/** What a run is started with; the store fills in the id, status and times. */
export type NewRun = Pick<Run, "namespace" | "name" | "uid" | "generation" | "specHash" | "action" | "reason" | "attempt"> & {
  jobId: string;
  worker: string;
};

export interface RunOutcome {
  status: Exclude<RunStatus, "queued" | "running">;
  addCount?: number;
  changeCount?: number;
  destroyCount?: number;
  error?: string;
  errorKind?: string;
}

export interface RunPage {
  runs: Run[];
  nextCursor: string | null;
}

// created_at_text keeps PostgreSQL's microseconds for page cursors (a JS Date has milliseconds).
const COLUMNS = `id, namespace, name, uid, generation, spec_hash, action, status, reason, attempt, job_id, worker,
  created_at, created_at::text as created_at_text, started_at, finished_at, add_count, change_count, destroy_count, error, error_kind`;

/** Runs and their ordered log lines, in PostgreSQL. */
export class RunStore {
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    assertIdentifier(schema);
    this.s = schema;
  }

  async start(run: NewRun): Promise<Run> {
    const { rows } = await this.pool.query(
      `insert into ${this.s}.runs (namespace, name, uid, generation, spec_hash, action, status, reason, attempt, job_id, worker, started_at)
       values ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, now()) returning ${COLUMNS}`,
      [run.namespace, run.name, run.uid, run.generation, run.specHash, run.action, run.reason, run.attempt, run.jobId, run.worker],
    );
    return toRun(rows[0]);
  }

  async finish(id: string, outcome: RunOutcome): Promise<Run> {
    const { rows } = await this.pool.query(
      `update ${this.s}.runs set status = $2, finished_at = now(), add_count = $3, change_count = $4, destroy_count = $5,
         error = $6, error_kind = $7 where id = $1 returning ${COLUMNS}`,
      [
        id,
        outcome.status,
        outcome.addCount ?? null,
        outcome.changeCount ?? null,
        outcome.destroyCount ?? null,
        outcome.error ?? null,
        outcome.errorKind ?? null,
      ],
    );
    if (rows.length === 0) throw new Error(`run ${id} not found`);
    return toRun(rows[0]);
  }

  /** Appends events with consecutive sequence numbers given by the caller. */
  async appendEvents(events: RunEvent[]): Promise<void> {
    if (events.length === 0) return;
    const values: unknown[] = [];
    const tuples = events.map((e, i) => {
      values.push(e.runId, e.seq, e.ts, e.level, e.type, e.message, e.data ? JSON.stringify(e.data) : null);
      const b = i * 7;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`;
    });
    await this.pool.query(
      `insert into ${this.s}.run_events (run_id, seq, ts, level, type, message, data) values ${tuples.join(", ")}
       on conflict (run_id, seq) do nothing`,
      values,
    );
  }

  async get(id: string): Promise<Run | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await this.pool.query(`select ${COLUMNS} from ${this.s}.runs where id = $1`, [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** Newest first; `cursor` is the opaque value of a previous page's nextCursor. */
  async list(filter: { namespace?: string; name?: string; uid?: string; limit: number; cursor?: string }): Promise<RunPage> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      values.push(value);
      where.push(sql.replace("?", `$${values.length}`));
    };
    if (filter.namespace) add("namespace = ?", filter.namespace);
    if (filter.name) add("name = ?", filter.name);
    if (filter.uid) add("uid = ?", filter.uid);
    if (filter.cursor) {
      const [createdAt, id] = decodeCursor(filter.cursor);
      values.push(createdAt, id);
      where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    values.push(filter.limit + 1);
    const rows = await this.pool
      .query(
        `select ${COLUMNS} from ${this.s}.runs ${where.length ? `where ${where.join(" and ")}` : ""}
       order by created_at desc, id desc limit $${values.length}`,
        values,
      )
      .then(
        (result) => result.rows,
        (error: unknown) => {
          // A cursor that decodes but names an impossible time: PostgreSQL's data exception class 22.
          if (filter.cursor && /^22/.test(String((error as { code?: unknown }).code))) throw new InvalidCursorError();
          throw error;
        },
      );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      runs: page.map(toRun),
      nextCursor: rows.length > filter.limit && last ? encodeCursor(last.created_at_text as string, last.id as string) : null,
    };
  }

  async events(runId: string, afterSeq = 0, limit = 10_000): Promise<RunEvent[]> {
    if (!isUuid(runId)) return [];
    const { rows } = await this.pool.query(
      `select run_id, seq, ts, level, type, message, data from ${this.s}.run_events
       where run_id = $1 and seq > $2 order by seq limit $3`,
      [runId, afterSeq, limit],
    );
    return rows.map((r) => ({
      runId: r.run_id as string,
      seq: r.seq as number,
      ts: (r.ts as Date).toISOString(),
      level: r.level as string,
      type: r.type as string,
      message: r.message as string,
      data: r.data as Record<string, unknown> | null,
    }));
  }

  /** Runs that are still `running` but whose worker is gone are closed as failed by the caller. */
  async countByStatus(): Promise<Record<string, number>> {
    const { rows } = await this.pool.query(`select action, status, count(*)::int as n from ${this.s}.runs group by action, status`);
    return Object.fromEntries(rows.map((r) => [`${r.action}:${r.status}`, r.n as number]));
  }

  /** Marks runs left `running` by a job that is being retried (its worker died) as failed. */
  async failAbandoned(jobId: string, exceptRunId: string): Promise<number> {
    const { rowCount } = await this.pool.query(
      `update ${this.s}.runs set status = 'failed', finished_at = now(), error = 'the worker running this run stopped before it finished',
         error_kind = 'abandoned' where job_id = $1 and status = 'running' and id <> $2`,
      [jobId, exceptRunId],
    );
    return rowCount ?? 0;
  }
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString("base64url");
}

export class InvalidCursorError extends Error {
  constructor() {
    super("cursor is not a value returned by a previous page");
    this.name = "InvalidCursorError";
  }
}

function decodeCursor(cursor: string): [string, string] {
  const [createdAt, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  if (!createdAt || !id || !/^\d{4}-\d{2}-\d{2} [0-9:.+-]+$/.test(createdAt) || !isUuid(id)) throw new InvalidCursorError();
  return [createdAt, id];
}

function iso(value: unknown): string | null {
  return value instanceof Date ? value.toISOString() : null;
}

function toRun(r: Record<string, unknown>): Run {
  return {
    id: r.id as string,
    namespace: r.namespace as string,
    name: r.name as string,
    uid: r.uid as string,
    generation: Number(r.generation),
    specHash: r.spec_hash as string,
    action: r.action as RunAction,
    status: r.status as RunStatus,
    reason: r.reason as string,
    attempt: r.attempt as number,
    jobId: (r.job_id as string | null) ?? null,
    worker: (r.worker as string | null) ?? null,
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    addCount: (r.add_count as number | null) ?? null,
    changeCount: (r.change_count as number | null) ?? null,
    destroyCount: (r.destroy_count as number | null) ?? null,
    error: (r.error as string | null) ?? null,
    errorKind: (r.error_kind as string | null) ?? null,
  };
}
