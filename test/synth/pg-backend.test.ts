import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthesizeVmStack, workspaceName } from "../../src/synth/synthesize.js";
import { dropSchemas, withPg } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { tofu, tofuWorkdir } from "../support/tofu.js";
import { minimal, synthesisInput } from "./vm-specs.js";

/**
 * tofu's pg backend uses lib/pq, which defaults to sslmode=require (node-postgres does not); the
 * platform's PostgreSQL serves no TLS, so the worker has to say sslmode=disable explicitly.
 */
function pgConnStr(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.searchParams.has("sslmode")) url.searchParams.set("sslmode", "disable");
  return url.toString();
}

/**
 * The synthesized backend block against the platform's PostgreSQL: the connection string comes
 * only from PG_CONN_STR (the JSON has none), state lands in the schema the stack names, and each
 * VM gets its own workspace `<namespace>.<name>`.
 */
describe("the pg backend of a synthesized stack", () => {
  const schema = `ptm_synth_${randomUUID().replaceAll("-", "")}`;
  const namespace = "team-a";
  const name = "web-1";
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    // The runner selects workspaces explicitly; an inherited TF_WORKSPACE would override that.
    delete process.env.TF_WORKSPACE;
    env = { PG_CONN_STR: pgConnStr(platformEnv().DATABASE_URL) };
    const { config } = synthesizeVmStack(
      synthesisInput(minimal, { namespace, name, stateSchema: schema, providerVersion: platformEnv().PTM_PROVIDER_VERSION }),
    );
    dir = await tofuWorkdir(config, "ptm-synth-pg-");
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await dropSchemas(schema);
  });

  it("initializes with PG_CONN_STR from the environment", async () => {
    const init = await tofu(dir, ["init", "-input=false", "-no-color"], env);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('Successfully configured the backend "pg"');
  });

  it("creates and selects the VM's workspace, stored in the stack's schema", async () => {
    const workspace = workspaceName(namespace, name);
    const created = await tofu(dir, ["workspace", "new", "-no-color", workspace], env);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);

    const shown = await tofu(dir, ["workspace", "show"], env);
    expect(shown.stdout.trim()).toBe(workspace);
    const listed = await tofu(dir, ["workspace", "list", "-no-color"], env);
    expect(listed.stdout).toContain(`* ${workspace}`);

    const { rows } = await withPg((c) => c.query<{ name: string }>(`select name from ${schema}.states order by name`));
    expect(rows.map((r) => r.name)).toContain(workspace);
  });
});
