import { createHash } from "node:crypto";
import type pg from "pg";
import type { ErroredStateStore, StoredErroredState } from "../terraform/errored-state.js";
import { assertIdentifier } from "./migrations.js";

/**
 * ErroredStateStore in the operator's PostgreSQL schema (table `errored_states`, migration 3).
 * The operator's database rather than files next to the work directories: a worker pod's
 * directories are gone after a restart, and the database is the one place every worker reaches.
 * The sidecar's read-only role has no access to the table (it holds Terraform state).
 */
export class PgErroredStateStore implements ErroredStateStore {
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    assertIdentifier(schema);
    this.s = schema;
  }

  async save(workspace: string, state: Buffer): Promise<void> {
    await this.pool.query(
      `insert into ${this.s}.errored_states (workspace, state, digest) values ($1, $2, $3)
       on conflict (workspace) do update set state = excluded.state, digest = excluded.digest, saved_at = now()`,
      [workspace, state, digestOf(state)],
    );
  }

  async load(workspace: string): Promise<StoredErroredState | undefined> {
    const { rows } = await this.pool.query<{ state: Buffer; digest: string }>(
      `select state, digest from ${this.s}.errored_states where workspace = $1`,
      [workspace],
    );
    const row = rows[0];
    return row ? { state: row.state, digest: row.digest } : undefined;
  }

  async clear(workspace: string, digest: string): Promise<void> {
    await this.pool.query(`delete from ${this.s}.errored_states where workspace = $1 and digest = $2`, [workspace, digest]);
  }
}

export function digestOf(state: Buffer): string {
  return createHash("sha256").update(state).digest("hex");
}
