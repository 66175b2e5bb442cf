import type pg from "pg";

/**
 * Schema migrations, applied in order at start-up under an advisory lock, so any number of
 * operator processes can start at once. Append new migrations; never edit an applied one.
 */
const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: (schema: string) => string }> = [
  {
    version: 1,
    name: "runs and run events",
    sql: (s) => `
      create table ${s}.runs (
        id uuid primary key default gen_random_uuid(),
        namespace text not null,
        name text not null,
        uid text not null,
        generation bigint not null,
        spec_hash text not null,
        action text not null check (action in ('plan', 'apply', 'destroy', 'forget')),
        status text not null check (status in ('queued', 'running', 'succeeded', 'no_changes', 'failed')),
        reason text not null default '',
        attempt integer not null default 1,
        job_id text,
        worker text,
        created_at timestamptz not null default now(),
        started_at timestamptz,
        finished_at timestamptz,
        add_count integer,
        change_count integer,
        destroy_count integer,
        error text,
        error_kind text
      );
      create index runs_by_vm on ${s}.runs (namespace, name, created_at desc, id desc);
      create index runs_by_time on ${s}.runs (created_at desc, id desc);
      create index runs_by_uid on ${s}.runs (uid, created_at desc);

      create table ${s}.run_events (
        run_id uuid not null references ${s}.runs (id) on delete cascade,
        seq integer not null,
        ts timestamptz not null,
        level text not null,
        type text not null,
        message text not null,
        data jsonb,
        primary key (run_id, seq)
      );
    `,
  },
];

export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export async function migrate(pool: pg.Pool, schema: string): Promise<number[]> {
  assertIdentifier(schema);
  const client = await pool.connect();
  try {
    // One lock per schema name: two processes migrating the same schema serialize here.
    await client.query("select pg_advisory_lock(hashtext($1))", [`ptm-migrate:${schema}`]);
    await client.query(`create schema if not exists ${schema}`);
    await client.query(
      `create table if not exists ${schema}.schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`,
    );
    const { rows } = await client.query<{ version: number }>(`select version from ${schema}.schema_migrations`);
    const applied = new Set(rows.map((r) => r.version));
    const done: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await client.query("begin");
      try {
        await client.query(migration.sql(schema));
        await client.query(`insert into ${schema}.schema_migrations (version, name) values ($1, $2)`, [migration.version, migration.name]);
        await client.query("commit");
        done.push(migration.version);
      } catch (error) {
        await client.query("rollback");
        throw new Error(`migration ${migration.version} (${migration.name}) failed`, { cause: error });
      }
    }
    return done;
  } finally {
    await client.query("select pg_advisory_unlock(hashtext($1))", [`ptm-migrate:${schema}`]).catch(() => undefined);
    client.release();
  }
}

export function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name ${JSON.stringify(name)}`);
}
