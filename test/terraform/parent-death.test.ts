import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findSetpriv } from "../../src/terraform/process.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";
import { dropSchema, makeRunner, pgConnStr, pidsInDir, pidsWithArg, removeTempDirs, runFor, stack, tempDir, uniqueSchema, waitFor } from "./helpers.js";

const schemas: string[] = [];
const groups: number[] = [];
afterAll(async () => {
  // Whatever tofu's provisioner left behind in its process group (tofu itself is gone by then).
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await Promise.all(schemas.map(dropSchema));
  await removeTempDirs();
});

describe.skipIf(!findSetpriv())("when the worker dies", () => {
  it("tofu gets SIGTERM, stops gracefully and releases the state lock", async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const sleepArg = `60.${randomInt(100_000, 999_999)}`;
    const configJson = stack(schema, {
      resource: { terraform_data: { slow: { input: "x", provisioner: [{ "local-exec": { command: `sleep ${sleepArg}; true` } }] } } },
    });
    const env = platformEnv();
    const workdirRoot = await tempDir("ptm-tf-orphan-");
    const input = {
      runner: {
        binary: env.TOFU_BIN,
        flavor: "tofu",
        workdirRoot,
        cliConfigFile: env.TF_CLI_CONFIG_FILE,
      },
      run: { workdirName: "vm", configJson, workspace: "vm-100", env: { PG_CONN_STR: pgConnStr() }, timeoutMs: 120_000 },
    };
    const worker = spawn(process.execPath, ["--import", "tsx", path.join("test", "terraform", "fixtures", "worker-child.ts"), JSON.stringify(input)], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<void>((resolve) => worker.on("exit", () => resolve()));
    try {
      // Wait until the apply is inside the provisioner, holding the lock.
      await new Promise<void>((resolve, reject) => {
        let buffer = "";
        worker.stdout!.on("data", (chunk: Buffer) => {
          buffer += chunk.toString();
          if (buffer.includes('"type":"provision_start"')) resolve();
        });
        worker.on("exit", (code) => reject(new Error(`worker exited early (${code}): ${buffer}`)));
      });
      // ... with its command running, for a moment: killed within the first milliseconds of
      // provisioning, tofu 1.12 sometimes exits without recording the created instance (seen
      // once init became fast enough to reach this point sooner), which this test is not about.
      expect(await waitFor(async () => (await pidsWithArg(sleepArg)).length > 0, 15_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 2000));
      const workdir = path.join(workdirRoot, "vm");
      const tofuPids = await pidsInDir(workdir, "tofu");
      expect(tofuPids.length).toBeGreaterThan(0);
      groups.push(...tofuPids);

      worker.kill("SIGKILL");
      await exited;

      // The kernel's parent-death signal reaches tofu, which stops gracefully and exits.
      const alive = async () => (await pidsInDir(workdir, "tofu")).filter((pid) => tofuPids.includes(pid));
      expect(await waitFor(async () => (await alive()).length === 0, 15_000)).toBe(true);
    } finally {
      worker.kill("SIGKILL");
    }

    // The lock is free again: another worker's plan runs.
    const runner = await makeRunner();
    const other = runFor(schema, configJson, { workdirName: "other-worker" });
    await runner.prepare(other);
    const plan = await runner.plan(other);
    // tofu had time to record the half-created resource (tainted, so: replace), which only a
    // graceful stop does; killed outright it would have written nothing (just "add").
    expect(plan.changes).toMatchObject({ add: 1, remove: 1 });
    expect(other.events.some((e) => e.type === "planned_change" && e.resource === "terraform_data.slow" && e.action === "replace")).toBe(true);
    await runner.discardPlan(plan.planFile!);

    // With no runner left to kill the process group, the provisioner's shell and sleep outlive
    // tofu (they hold no lock); afterAll ends them by process group.
    expect((await pidsWithArg(sleepArg)).length).toBeGreaterThan(0);
  });
});
