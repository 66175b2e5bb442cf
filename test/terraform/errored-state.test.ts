import { writeFile } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { ERRORED_STATE_FILE } from "../../src/terraform/errored-state.js";
import { dropSchemas } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { makeRunner, runFor, schemasDroppedAfterAll, stack, withPg } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();
const resources = (schema: string) => stack(schema, { resource: { terraform_data: { first: { input: "one" }, second: { input: "two" } } } });

/**
 * The work directory is never the source of truth: a state row lost from PostgreSQL (a backup
 * restore) recreates the workspace instead of failing, and a state tofu could not save (it writes
 * errored.tfstate) goes to the operator's database and is pushed back before the next plan, so
 * what was made is recorded without an import. Real tofu, the pg backend, PostgreSQL.
 */
describe("state that survives its database", () => {
  const dbSchema = `t_${randomBytes(4).toString("hex")}`;
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase(platformEnv().DATABASE_URL, dbSchema);
  });
  afterAll(async () => {
    await db?.close();
    await dropSchemas(dbSchema);
  });

  it("recreates a lost workspace, and pushes back an errored state kept in the database", async () => {
    const runner = await makeRunner({ erroredStates: db.erroredStates });
    const schema = newSchema();
    // Another VM's workspace in the same schema: with it, tofu refuses to init a work directory
    // whose selected workspace is gone (with "default" alone it falls back silently).
    const other = runFor(schema, resources(schema), { workspace: "vm-200" });
    await runner.prepare(other);
    await runner.apply(other, (await runner.plan(other)).planFile!);

    const run = runFor(schema, resources(schema), { workspace: "vm-100" });
    await runner.prepare(run);
    await runner.apply(run, (await runner.plan(run)).planFile!);
    const { rows } = await withPg((c) => c.query<{ data: string }>(`select data from ${schema}.states where name = $1`, ["vm-100"]));
    const saved = rows[0]!.data;
    expect(JSON.parse(saved).resources).toHaveLength(2);

    // The row is lost (a restore from an older backup); the work directory still selects it.
    await withPg((c) => c.query(`delete from ${schema}.states where name = $1`, ["vm-100"]));
    await runner.prepare(run);
    expect((await runner.plan(run)).changes.add).toBe(2);

    // What tofu leaves when it cannot save state: errored.tfstate in the work directory. The
    // runner moves it into the database (a pod restart would lose the directory) ...
    const workdir = runner.workdir(run);
    await writeFile(path.join(workdir, ERRORED_STATE_FILE), saved);
    expect(await runner.saveErroredState(run)).toBe("saved");
    expect(await db.erroredStates.load("vm-100")).toMatchObject({ state: Buffer.from(saved) });

    // ... and the next run pushes it back before it plans: nothing to add, nothing imported.
    expect(await runner.pushErroredState(run)).toEqual({ pushed: true });
    const plan = await runner.plan(run);
    expect(plan.hasChanges).toBe(false);
    expect(await db.erroredStates.load("vm-100")).toBeUndefined();
    expect(await runner.pushErroredState(run)).toEqual({ pushed: false });
  });
});
