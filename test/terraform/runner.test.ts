import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { makeRunner, runFor, schemasDroppedAfterAll, stack } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();

const twoResources = (schema: string, extra: Record<string, unknown> = {}) =>
  stack(schema, {
    resource: { terraform_data: { first: { input: "one" }, second: { input: { cores: 2, name: "vm" } } } },
    ...extra,
  });

describe("TerraformRunner against the pg backend", () => {
  it("plans, applies, and then plans no changes, reporting counts and events", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(schema, twoResources(schema));

    let t = Date.now();
    await runner.prepare(run);
    const prepareMs = Date.now() - t;
    // One init, into the data directory every work directory with this backend and these providers shares.
    expect(run.events.filter((e) => e.type === "command").map((e) => e.message)).toEqual([expect.stringMatching(/^tofu init -input=false -no-color -json$/)]);
    expect(run.events.some((e) => e.phase === "init" && e.type === "version" && /OpenTofu 1\./.test(e.message))).toBe(true);

    t = Date.now();
    const plan = await runner.plan(run);
    const planMs = Date.now() - t;
    expect(plan).toMatchObject({ hasChanges: true, changes: { add: 2, change: 0, import: 0, remove: 0 }, drift: [], diagnostics: [] });
    expect(plan.planFile && existsSync(plan.planFile)).toBe(true);
    const planned = run.events.filter((e) => e.type === "planned_change");
    expect(planned.map((e) => [e.resource, e.action]).sort()).toEqual([
      ["terraform_data.first", "create"],
      ["terraform_data.second", "create"],
    ]);
    expect(run.events.find((e) => e.type === "change_summary" && e.phase === "plan")?.changes).toEqual({
      add: 2,
      change: 0,
      import: 0,
      remove: 0,
      forget: 0,
    });

    t = Date.now();
    const applied = await runner.apply(run, plan.planFile!);
    const applyMs = Date.now() - t;
    expect(applied.changes).toMatchObject({ add: 2, change: 0, remove: 0 });
    expect(existsSync(plan.planFile!)).toBe(false);
    const completes = run.events.filter((e) => e.phase === "apply" && e.type === "apply_complete");
    expect(completes).toHaveLength(2);
    for (const e of completes) {
      expect(e).toMatchObject({ stream: "stdout", level: "info", action: "create", elapsedSeconds: expect.any(Number) });
      expect(Date.parse(e.timestamp)).not.toBeNaN();
    }
    expect(run.events.filter((e) => e.type === "apply_start")).toHaveLength(2);

    // The same work directory again (a later reconcile): no init, nothing to do.
    const again = { ...run, configJson: twoResources(schema) };
    const commandsBefore = run.events.filter((e) => e.type === "command").length;
    await runner.prepare(again);
    expect(run.events.filter((e) => e.type === "command").length).toBe(commandsBefore);
    const noChanges = await runner.plan(again);
    expect(noChanges).toMatchObject({ hasChanges: false, changes: { add: 0, change: 0, remove: 0 } });
    expect(noChanges.planFile).toBeUndefined();
    expect((await readdir(runner.workdir(run))).filter((f) => f.endsWith(".tfplan"))).toEqual([]);
    expect(run.events.filter((e) => e.type === "refresh_complete").length).toBeGreaterThanOrEqual(2);

    // The state lives in the VM's workspace.
    const version = await runner.version(run);
    expect(version).toMatchObject({ flavor: "tofu", version: expect.stringMatching(/^1\.\d+\.\d+/), providerVersions: {} });

    console.log(`[timing] trivial config: prepare ${prepareMs} ms, plan ${planMs} ms, apply ${applyMs} ms`);
  });

  it("returns outputs, leaving sensitive ones out unless asked", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(
      schema,
      twoResources(schema, {
        output: {
          name: { value: "${terraform_data.second.output.name}" },
          cores: { value: "${terraform_data.second.output.cores}" },
          hidden: { value: "${terraform_data.first.output}", sensitive: true },
        },
      }),
    );
    await runner.prepare(run);
    expect(await runner.output(run)).toEqual({});
    const plan = await runner.plan(run);
    await runner.apply(run, plan.planFile!);
    expect(await runner.output(run)).toEqual({ name: "vm", cores: 2 });
    expect(await runner.output(run, { includeSensitive: true })).toEqual({ name: "vm", cores: 2, hidden: "one" });
    // output -json stdout is data, not events: no value shows up in the stream.
    expect(run.events.filter((e) => e.phase === "output" && e.stream === "stdout")).toEqual([]);
  });

  it("destroys with plan -destroy and apply", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(schema, twoResources(schema));
    await runner.prepare(run);
    await runner.apply(run, (await runner.plan(run)).planFile!);

    const destroyPlan = await runner.plan(run, { destroy: true });
    expect(destroyPlan).toMatchObject({ hasChanges: true, changes: { add: 0, change: 0, remove: 2 } });
    expect(run.events.filter((e) => e.type === "planned_change" && e.action === "delete")).toHaveLength(2);
    const destroyed = await runner.apply(run, destroyPlan.planFile!);
    expect(destroyed.changes).toMatchObject({ add: 0, remove: 2 });

    const nothingLeft = await runner.plan(run, { destroy: true });
    expect(nothingLeft.hasChanges).toBe(false);
    // The configuration still wants both: a normal plan creates them again.
    expect((await runner.plan(run)).changes.add).toBe(2);
  });

  it("plans and applies in one tofu process, with outputs from the apply and no init for a second work directory", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const withOutputs = twoResources(schema, { output: { name: { value: "${terraform_data.second.output.name}" }, hidden: { value: "secret-ish", sensitive: true } } });
    const first = runFor(schema, withOutputs, { workspace: "ns.first" });
    const second = runFor(schema, withOutputs, { workspace: "ns.second" });
    const commands = (r: typeof first) => r.events.filter((e) => e.type === "command").map((e) => e.message.split(" ").slice(0, 2).join(" "));

    await runner.prepare(first);
    await runner.prepare(second);
    const created = await runner.applyAuto(first);
    expect(created).toMatchObject({ hasChanges: true, planned: { add: 2 }, changes: { add: 2, change: 0, remove: 0 }, outputs: { name: "vm" } });
    expect(created.outputs).not.toHaveProperty("hidden");
    expect(commands(first)).toEqual(["tofu init", "tofu apply"]);
    // The second VM's work directory reuses the data directory the first one's init made.
    expect(commands(second)).toEqual([]);
    // Only the configuration (and a lock file, had it providers): no .terraform of its own.
    expect(await readdir(runner.workdir(second))).toEqual(["main.tf.json"]);

    const unchanged = await runner.applyAuto(first);
    expect(unchanged).toMatchObject({ hasChanges: false, changes: { add: 0, change: 0, remove: 0 }, outputs: { name: "vm" } });
    expect((await runner.applyAuto(second)).changes.add).toBe(2);

    const destroyed = await runner.applyAuto(first, { destroy: true });
    expect(destroyed).toMatchObject({ hasChanges: true, changes: { remove: 2 } });
    // Each workspace holds its own state: the second VM's resources are still there.
    expect((await runner.plan(second)).hasChanges).toBe(false);
    expect(commands(first)).toEqual(["tofu init", "tofu apply", "tofu apply", "tofu apply"]);
  });

  it("forgets a resource with state rm, idempotently", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(schema, twoResources(schema));
    await runner.prepare(run);
    await runner.apply(run, (await runner.plan(run)).planFile!);

    expect(await runner.stateRemove(run, "terraform_data.first")).toEqual({ removed: true });
    expect(await runner.stateRemove(run, "terraform_data.first")).toEqual({ removed: false });
    const plan = await runner.plan(run);
    expect(plan.changes).toMatchObject({ add: 1, remove: 0 });
    expect(run.events.some((e) => e.phase === "state" && /Removed terraform_data.first/.test(e.message))).toBe(true);
    await runner.discardPlan(plan.planFile!);
  });

  it("reports the binary's version without a work directory", async () => {
    const runner = await makeRunner();
    const v = await runner.version();
    expect(v.flavor).toBe("tofu");
    expect(v.version).toMatch(/^1\.\d+\.\d+/);
    expect(v.providerVersions).toBeUndefined();
  });
});
