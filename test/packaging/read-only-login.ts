import pg from "pg";

/**
 * What the sidecar's database login must not do, each statement with the SQLSTATE PostgreSQL
 * answers when it is refused (42501: insufficient_privilege). Shared by the chart's and compose's
 * tests, which make that login in different ways.
 */
export function writesRefusedTo(schema: string, stateSchema: string): string[] {
  return [
    `insert into ${schema}.runs (namespace, name, uid, generation, spec_hash, action, status) values ('ns', 'x', 'u', 1, 'h', 'apply', 'queued')`,
    `update ${schema}.runs set status = 'failed'`,
    `delete from ${schema}.runs`,
    `insert into ${schema}.run_events (run_id, seq, ts, level, type, message) select id, 999, now(), 'info', 'log', 'planted' from ${schema}.runs`,
    `delete from ${schema}.run_events`,
    `truncate ${schema}.runs`,
    `create table ${schema}.planted (x int)`,
    `delete from ${schema}.schema_migrations`,
    // Terraform state: the errored states kept in the runs schema, and the pg backend's own schema.
    `select * from ${schema}.errored_states`,
    `insert into ${schema}.errored_states (workspace, state, digest) values ('w', 'x', 'd')`,
    `select * from ${stateSchema}.states`,
  ];
}

/** Runs each statement as the login at `url`; the SQLSTATE of each refusal, or "allowed". */
export async function refusals(url: string, statements: string[]): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const answers: Record<string, string> = {};
    for (const sql of statements) {
      answers[sql] = await client.query(sql).then(
        () => "allowed",
        (e: { code?: string }) => e.code ?? String(e),
      );
    }
    return answers;
  } finally {
    await client.end();
  }
}

/** The answer every statement must get: refused for lack of privilege. */
export const allRefused = (statements: string[]): Record<string, string> => Object.fromEntries(statements.map((s) => [s, "42501"]));
