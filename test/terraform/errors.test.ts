import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TerraformError } from "../../src/terraform/index.js";
import { makeRunner, pidsWithArg, runFor, schemasDroppedAfterAll, stack, waitFor } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();

/** A resource whose creation runs `sleep` for `seconds` (a unique fractional value, to find the process). */
function slowStack(schema: string, name: string, seconds: number) {
  const sleepArg = `${seconds}.${randomInt(100_000, 999_999)}`;
  // "; true" keeps sh from exec-ing sleep, so sleep outlives the shell when tofu kills it.
  const configJson = stack(schema, {
    resource: { terraform_data: { [name]: { input: "x", provisioner: [{ "local-exec": { command: `sleep ${sleepArg}; true` } }] } } },
  });
  return { configJson, sleepArg };
}

async function rejection(p: Promise<unknown>): Promise<TerraformError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TerraformError);
    return e as TerraformError;
  }
  throw new Error("expected a TerraformError");
}

describe("TerraformRunner failures", () => {
  it("reports a validation error as a permanent TerraformError with the diagnostic", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(schema, stack(schema, { resource: { terraform_data: { a: { input: "x", bogus_argument: 1 } } } }));
    await runner.prepare(run);
    const error = await rejection(runner.plan(run));
    expect(error).toMatchObject({ kind: "permanent", phase: "plan", exitCode: 1, retryable: false });
    // main.tf.json is JSON: tofu words an unknown argument in JSON terms.
    expect(error.diagnostics[0]).toMatchObject({ severity: "error", summary: "Extraneous JSON object property" });
    expect(error.message).toBe('Extraneous JSON object property: No argument or block type is named "bogus_argument".');
    expect(run.events.some((e) => e.type === "diagnostic" && e.level === "error" && e.diagnostic?.summary === error.diagnostics[0]!.summary)).toBe(true);
  });

  it("kills a command that runs past its timeout, and the state lock is released", async () => {
    const runner = await makeRunner({ killGraceMs: 10_000 });
    const schema = newSchema();
    const { configJson, sleepArg } = slowStack(schema, "slow", 60);
    const run = runFor(schema, configJson);
    await runner.prepare(run);
    const plan = await runner.plan(run);

    const error = await rejection(runner.apply({ ...run, timeoutMs: 3_000 }, plan.planFile!));
    expect(error).toMatchObject({ kind: "timeout", phase: "apply" });
    expect(error.message).toMatch(/^apply timed out after 3s/);
    // SIGTERM lets tofu stop gracefully, within the grace: the runner never had to send SIGKILL
    // (it would have, 10 s after SIGTERM, had tofu waited for the 60 s sleep).
    const stops = run.events.filter((e) => e.stream === "runner" && /sending SIG(TERM|KILL)/.test(e.message)).map((e) => /SIG(TERM|KILL)/.exec(e.message)![0]);
    expect(stops).toEqual(["SIGTERM"]);
    // The sleep that tofu's shell left behind went with the process group.
    expect(await waitFor(async () => (await pidsWithArg(sleepArg)).length === 0, 3_000)).toBe(true);

    // The lock is free: the next plan runs (and wants to replace the half-created resource).
    const next = await runner.plan({ ...run, configJson: stack(schema, { resource: { terraform_data: { slow: { input: "x" } } } }) });
    expect(next.hasChanges).toBe(true);
    await runner.discardPlan(next.planFile!);
  });

  it("stops a command when its AbortSignal fires", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const { configJson } = slowStack(schema, "slow", 60);
    const controller = new AbortController();
    const run = runFor(schema, configJson, { signal: controller.signal });
    await runner.prepare(run);
    const plan = await runner.plan(run);
    const onEvent = run.onEvent!;
    run.onEvent = (e) => {
      onEvent(e);
      if (e.type === "provision_start") controller.abort();
    };
    const error = await rejection(runner.apply(run, plan.planFile!));
    expect(error).toMatchObject({ kind: "aborted", phase: "apply" });
    // A later command with the aborted signal does not start.
    await expect(runner.plan(run)).rejects.toMatchObject({ kind: "aborted" });
    // AbortSignal.timeout() counts as a timeout.
    await expect(runner.plan({ ...run, signal: AbortSignal.timeout(0) })).rejects.toMatchObject({ kind: "timeout" });
  });

  it("gives kind 'lock' to a second run on a workspace that another run holds", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const { configJson } = slowStack(schema, "held", 4);
    // Two workers, two work directories, one workspace.
    const first = runFor(schema, configJson, { workdirName: "worker-a" });
    const second = runFor(schema, configJson, { workdirName: "worker-b" });
    await runner.prepare(first);
    await runner.prepare(second);
    const plan = await runner.plan(first);

    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    const onEvent = first.onEvent!;
    first.onEvent = (e) => {
      onEvent(e);
      if (e.type === "provision_start") markStarted();
    };
    const applying = runner.apply(first, plan.planFile!);
    await started;
    const error = await rejection(runner.plan(second));
    expect(error).toMatchObject({ kind: "lock", phase: "plan", retryable: true });
    expect(error.message).toMatch(/^Error acquiring the state lock/);
    await expect(runner.stateRemove(second, "terraform_data.held")).rejects.toMatchObject({ kind: "lock", phase: "state" });

    await expect(applying).resolves.toMatchObject({ changes: { add: 1 } });
    // Once the first run is done, the second one goes through.
    expect((await runner.plan(second)).hasChanges).toBe(false);
  });

  it("does not start a command after the run's deadline", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const run = runFor(schema, stack(schema, { resource: { terraform_data: { a: { input: "x" } } } }), { deadline: Date.now() - 1 });
    const error = await rejection(runner.prepare(run));
    expect(error).toMatchObject({ kind: "timeout", phase: "init", exitCode: null });
    expect(run.events).toEqual([]);
  });

  it("refuses state encryption for terraform, short passphrases, and secrets in the configuration", async () => {
    const schema = newSchema();
    const configJson = stack(schema, { resource: { terraform_data: { a: { input: "x" } } } });
    const terraform = await makeRunner({ flavor: "terraform" });
    const e1 = await rejection(terraform.prepare(runFor(schema, configJson, { stateEncryptionPassphrase: "a passphrase long enough" })));
    expect(e1).toMatchObject({ kind: "permanent", phase: "init" });
    expect(e1.message).toMatch(/state encryption needs OpenTofu/);

    const tofu = await makeRunner();
    const e2 = await rejection(tofu.prepare(runFor(schema, configJson, { stateEncryptionPassphrase: "short" })));
    expect(e2.message).toMatch(/at least 16 characters/);

    const leaky = stack(schema, { resource: { terraform_data: { a: { input: "root@pam!ci=0b9d8e7f-secret" } } } });
    const e3 = await rejection(tofu.prepare(runFor(schema, leaky, { env: { PROXMOX_VE_API_TOKEN: "root@pam!ci=0b9d8e7f-secret" } })));
    expect(e3).toMatchObject({ kind: "permanent" });
    expect(e3.message).toMatch(/configJson contains a secret/);
  });

  it("reports a missing binary as permanent", async () => {
    const runner = await makeRunner({ binary: "/nonexistent/tofu" });
    const schema = newSchema();
    const error = await rejection(runner.prepare(runFor(schema, stack(schema, {}))));
    expect(error).toMatchObject({ kind: "permanent", phase: "init" });
  });
});
