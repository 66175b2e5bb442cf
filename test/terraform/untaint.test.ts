import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { platformEnv } from "../support/platform-env.js";
import { makeRunner, runFor, schemasDroppedAfterAll, stack } from "./helpers.js";

const run = promisify(execFile);
const newSchema = schemasDroppedAfterAll();

/** A resource a failed run left tainted is kept in place by `untaint`, never planned for replacement. */
describe("TerraformRunner.untaint", () => {
  it("clears a taint (the plan then keeps the resource) and says when there was none", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const r = runFor(schema, stack(schema, { resource: { terraform_data: { vm: { input: "kept" } } } }));
    await runner.prepare(r);
    await runner.apply(r, (await runner.plan(r)).planFile!);
    expect(await runner.untaint(r, "terraform_data.vm")).toBe(false);

    // What a create or update that failed half way leaves behind.
    await run(platformEnv().TOFU_BIN, ["taint", "-no-color", "terraform_data.vm"], { cwd: runner.workdir(r), env: { ...process.env, ...r.env, TF_WORKSPACE: r.workspace, TF_DATA_DIR: runner.dataDir(r) } });
    expect((await runner.plan(r)).changes).toMatchObject({ add: 1, remove: 1 });
    expect(await runner.untaint(r, "terraform_data.vm")).toBe(true);
    expect((await runner.plan(r)).hasChanges).toBe(false);
  });
});
