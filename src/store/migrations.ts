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
  {
    version: 2,
    name: "read-only role for the sidecar",
    // The sidecar only reads runs and run logs. This role may SELECT in this schema (tables made
    // by later migrations too, through default privileges) and nothing else: not the Terraform
    // state schema, no writes. A login for the sidecar is made a member of it (docs/helm.md).
    // Creating a role needs CREATEROLE: without it the step only says so, and the sidecar keeps
    // the operator's login until an administrator creates the role.
    sql: (s) => `
      do $ptm$
      begin
        if not exists (select 1 from pg_roles where rolname = '${readerRole(s)}') then
          begin
            create role ${readerRole(s)} nologin;
          exception when insufficient_privilege then
            raise notice 'cannot create role ${readerRole(s)} (no CREATEROLE): create it to give the sidecar a read-only login';
            return;
          end;
        end if;
        grant usage on schema ${s} to ${readerRole(s)};
        grant select on all tables in schema ${s} to ${readerRole(s)};
        alter default privileges in schema ${s} grant select on tables to ${readerRole(s)};
      end
      $ptm$;
    `,
  },
  {
    version: 3,
    name: "errored Terraform states",
    // errored.tfstate files that tofu wrote when it could not save state (src/terraform/errored-state.ts),
    // kept until the next run pushes them back. Terraform state: not for the sidecar's read-only role,
    // which the default privileges of migration 2 would otherwise give SELECT on it.
    sql: (s) => `
      create table ${s}.errored_states (
        workspace text primary key,
        state bytea not null,
        digest text not null,
        saved_at timestamptz not null default now()
      );
      do $ptm$
      begin
        if exists (select 1 from pg_roles where rolname = '${readerRole(s)}') then
          revoke all on ${s}.errored_states from ${readerRole(s)};
        end if;
      end
      $ptm$;
    `,
  },
  {
    version: 4,
    name: "run diffs and saved plans",
    // run_diffs: per run, the synthesized stack (never a secret: the runner refuses one that holds
    // a value it was given) and the two diffs, with secrets masked; the sidecar serves them.
    // saved_plans: the plan file of a run that waits for approval, applied as it is once approved.
    // A plan file holds variable values: not for the sidecar's read-only role.
    sql: (s) => `
      create table ${s}.run_diffs (
        run_id uuid primary key references ${s}.runs (id) on delete cascade,
        uid text not null,
        stack_json text not null,
        desired jsonb not null,
        planned jsonb,
        in_effect boolean not null default false,
        plan_run_id uuid,
        created_at timestamptz not null default now()
      );
      create index run_diffs_uid_in_effect on ${s}.run_diffs (uid, created_at desc) where in_effect;
      create table ${s}.saved_plans (
        run_id uuid primary key references ${s}.runs (id) on delete cascade,
        uid text not null,
        spec_hash text not null,
        plan bytea not null,
        proxmox_digest text,
        status text not null default 'pending' check (status in ('pending', 'applied', 'discarded', 'stale')),
        decided_by text,
        decided_at timestamptz,
        created_at timestamptz not null default now()
      );
      create index saved_plans_uid_pending on ${s}.saved_plans (uid) where status = 'pending';
      do $ptm$
      begin
        if exists (select 1 from pg_roles where rolname = '${readerRole(s)}') then
          revoke all on ${s}.saved_plans from ${readerRole(s)};
        end if;
      end
      $ptm$;
    `,
  },
];

/** The read-only role of a schema's tables (the sidecar's logins are members of it). */
export function readerRole(schema: string): string {
  return `${schema}_reader`;
}

export const LATEST_MIGRATION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export async function migrate(pool: pg.Pool, schema: string): Promise<number[]> {
  assertIdentifier(schema);
  const client = await pool.connect();
  try {
    // Up to date: nothing to lock or create. This also lets a read-only login (the sidecar's)
    // open a database that the operator has migrated.
    if (await isUpToDate(client, schema)) return [];
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

async function isUpToDate(client: pg.PoolClient, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ table: string | null }>("select to_regclass($1) as table", [`${schema}.schema_migrations`]);
  if (!rows[0]?.table) return false;
  const applied = await client.query<{ version: number }>(`select version from ${schema}.schema_migrations`);
  const versions = new Set(applied.rows.map((r) => r.version));
  return MIGRATIONS.every((m) => versions.has(m.version));
}

export function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name ${JSON.stringify(name)}`);
}
