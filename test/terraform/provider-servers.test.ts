import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SEED, startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { synthesizeVmStack } from "../../src/synth/synthesize.js";
import { DEFAULT_INHERIT_ENV, ProviderServers, TerraformError, type TerraformRunner } from "../../src/terraform/index.js";
import { inheritedEnvironment } from "../../src/config/env.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { makeRunner, pgConnStr, runFor, schemasDroppedAfterAll } from "./helpers.js";
import { minimal, spec, synthesisInput } from "../synth/vm-specs.js";

const newSchema = schemasDroppedAfterAll();
const TOKEN_A = "root@pam!ptm-a=secret-token-aaaa";
const TOKEN_B = "root@pam!ptm-b=secret-token-bbbb";

/**
 * Plans and applies reattach to provider servers: the provider starts once per (connection,
 * token), not two to four times per command; a new token gets a new server; a server that dies
 * under a command fails it as transient and the next try gets a new one.
 */
describe("provider servers", () => {
  let sim: RunningSimulator;
  let servers: ProviderServers;
  let runner: TerraformRunner;
  guardUnknownRoutes(() => [sim]);

  beforeAll(async () => {
    delete process.env.TF_WORKSPACE;
    sim = await startSimulator({
      config: {
        ...DEFAULT_SEED,
        tokens: [TOKEN_A, TOKEN_B].map((t) => ({ id: t.split("=")[0]!, secret: t.split("=")[1]!, privsep: false })),
      },
      unauthorizedDelayMs: 0,
      taskDurationMs: 0,
      bootDelayMs: 0,
      log: false,
    });
    servers = new ProviderServers({ baseEnv: inheritedEnvironment(DEFAULT_INHERIT_ENV), idleMs: 60_000 });
    runner = await makeRunner({ providerServers: servers });
  });

  afterAll(async () => {
    servers?.stopAll();
    await sim?.close();
  });

  function vmRun(schema: string, name: string, token: string, memory = 1024) {
    const stack = synthesizeVmStack(synthesisInput(spec({ ...minimal, memory: { dedicated: memory } }), { name, stateSchema: schema }));
    return runFor(schema, stack.json, {
      workspace: `ns.${name}`,
      env: { PG_CONN_STR: pgConnStr(), PROXMOX_VE_ENDPOINT: sim.url, PROXMOX_VE_API_TOKEN: token, PROXMOX_VE_INSECURE: "true" },
      secrets: [token],
    });
  }

  it("start once per token, are reused by later runs, and a rotated token gets its own", async () => {
    const schema = newSchema();
    const startedBefore = servers.startedCount;
    const first = vmRun(schema, `ps-${randomUUID().slice(0, 6)}`, TOKEN_A);
    await runner.prepare(first);
    expect((await runner.applyAuto(first)).changes.add).toBe(1);
    expect(servers.startedCount - startedBefore).toBe(1);

    // Another VM, the same connection and token: the same server, no provider start.
    const second = vmRun(schema, `ps-${randomUUID().slice(0, 6)}`, TOKEN_A);
    await runner.prepare(second);
    expect((await runner.applyAuto(second)).changes.add).toBe(1);
    expect((await runner.applyAuto(first)).hasChanges).toBe(false);
    expect(servers.startedCount - startedBefore).toBe(1);

    // The token was rotated: the provider reads it from its own environment, so a new server serves it.
    const pidsBefore = new Set(servers.pids());
    const rotated = { ...first, env: { ...first.env, PROXMOX_VE_API_TOKEN: TOKEN_B }, secrets: [TOKEN_B] };
    const changed = vmRun(schema, first.workspace.slice(3), TOKEN_B, 2048);
    const resized = { ...rotated, configJson: changed.configJson };
    await runner.prepare(resized);
    expect((await runner.applyAuto(resized)).changes.change).toBe(1);
    expect(servers.startedCount - startedBefore).toBe(2);
    const added = servers.pids().filter((pid) => !pidsBefore.has(pid));
    expect(added).toHaveLength(1);
    // setpriv execs the provider in place: the pid is the provider's, its environment the new token's.
    const environ = (await readFile(`/proc/${added[0]}/environ`, "utf8")).split("\0");
    expect(environ).toContain(`PROXMOX_VE_API_TOKEN=${TOKEN_B}`);
  });

  it("fail a command as transient when its server dies, and the next try gets a new server", async () => {
    const schema = newSchema();
    const run = vmRun(schema, `pk-${randomUUID().slice(0, 6)}`, TOKEN_A);
    await runner.prepare(run);
    await runner.applyAuto(run);

    const pidsBefore = new Set(servers.pids());
    const resized = { ...run, configJson: vmRun(schema, run.workspace.slice(3), TOKEN_A, 4096).configJson };
    await runner.prepare(resized);
    let killed = false;
    const events = resized.events;
    const kill = { ...resized, onEvent: (e: (typeof events)[number]) => {
      events.push(e);
      // Kill the server the apply is using once it starts changing the VM.
      if (e.type === "apply_start" && !killed) {
        killed = true;
        for (const pid of servers.pids()) process.kill(pid, "SIGKILL");
      }
    } };
    // Slow answers keep the provider busy with the update when it is killed.
    sim.setFaults({ latencyMs: 1000 });
    const failure = await runner.applyAuto(kill).then(
      () => undefined,
      (error: unknown) => error,
    ).finally(() => sim.setFaults({ latencyMs: 0 }));
    expect(killed).toBe(true);
    expect(failure).toBeInstanceOf(TerraformError);
    expect((failure as TerraformError).kind).toBe("transient");
    expect(events.some((e) => e.stream === "runner" && /the provider server stopped during apply; the retry starts a new one/.test(e.message))).toBe(true);

    const retried = await runner.applyAuto(resized);
    expect(retried.changes.change).toBe(1);
    expect(servers.pids().some((pid) => !pidsBefore.has(pid))).toBe(true);
    expect((await runner.applyAuto(resized)).hasChanges).toBe(false);
  });
});
