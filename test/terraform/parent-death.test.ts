import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
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

describe("when the worker dies", () => {
  it("has setpriv, which the parent-death signal needs (util-linux; the platform and the image have it)", () => {
    expect(findSetpriv(process.env.PATH ?? ""), "setpriv is not on PATH: install util-linux").toMatch(/\/setpriv$/);
  });

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
      const workdir = path.join(workdirRoot, "vm");
      const tofuPids = await pidsInDir(workdir, "tofu");
      expect(tofuPids).toHaveLength(1);
      groups.push(...tofuPids);
      // tofu writes its output to a file (not a pipe to the worker, so it survives the worker);
      // hold that file open to read what tofu says after the worker is gone.
      const tofuOutput = openSync(`/proc/${tofuPids[0]}/fd/1`, "r");

      worker.kill("SIGKILL");
      await exited;

      // The kernel's parent-death signal reaches tofu, which stops gracefully and exits.
      const alive = async () => (await pidsInDir(workdir, "tofu")).filter((pid) => tofuPids.includes(pid));
      expect(await waitFor(async () => (await alive()).length === 0, 15_000)).toBe(true);
      const said = readFileSync(tofuOutput, "utf8");
      closeSync(tofuOutput);
      expect(said).toContain("Interrupt received");
      expect(said).toContain("Gracefully shutting down");
    } finally {
      worker.kill("SIGKILL");
    }

    // The lock is free again: another worker's plan runs.
    const runner = await makeRunner();
    const other = runFor(schema, configJson, { workdirName: "other-worker" });
    await runner.prepare(other);
    const plan = await runner.plan(other);
    // Whether the interrupted tofu recorded the half-created instance (tainted: replace) or not
    // (create) depends on how far it was; tofu 1.12 does not always record it when interrupted
    // early in provisioning (the run processor's import block adopts such a VM). Either way the
    // resource is planned, and no lock error stops the plan.
    expect(plan.changes.add).toBe(1);
    expect(other.events.some((e) => e.type === "planned_change" && e.resource === "terraform_data.slow")).toBe(true);
    await runner.discardPlan(plan.planFile!);

    // With no runner left to kill the process group, the provisioner's shell and sleep outlive
    // tofu (they hold no lock); afterAll ends them by process group.
    expect((await pidsWithArg(sleepArg)).length).toBeGreaterThan(0);
  });
});
