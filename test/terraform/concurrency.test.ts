import { lstat, readFile, readlink, realpath, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { TerraformRunner } from "../../src/terraform/index.js";
import { platformEnv } from "../support/platform-env.js";
import { makeRunner, runFor, schemasDroppedAfterAll, stack, tempDir, waitFor, withPg } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();

/** A stack that needs bpg/proxmox from the platform's mirror: plan starts the provider for its schema. */
function providerStack(schema: string, n: number): string {
  return stack(schema, {
    terraform: {
      backend: { pg: { schema_name: schema } },
      required_providers: { proxmox: { source: "bpg/proxmox", version: platformEnv().PTM_PROVIDER_VERSION } },
    },
    // Never contacted: nothing here uses the provider, plan only loads its schema.
    provider: { proxmox: { endpoint: "https://127.0.0.1:1/", insecure: true } },
    resource: { terraform_data: { vm: { input: `vm-${n}` } } },
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The advisory-lock key the pg backend (OpenTofu 1.12) takes to create a workspace in a schema:
 * minus the 32-bit FNV-1 hash of "<schema>\0states" (`composeCreationLockID` in its client.go).
 */
function workspaceCreationLockKey(schema: string): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`${schema}\0states`)) hash = (Math.imul(hash, 0x01000193) ^ byte) >>> 0;
  return String(-hash);
}

/**
 * Several VMs' first runs at once, as a worker with concurrency > 1 does them: each in its own
 * work directory, staggered so that some plans start the provider while other inits install it,
 * and all creating their workspaces in one fresh state schema (the pg backend's schema creation
 * and its per-schema workspace-creation lock). Before the fixes, with a shared plugin cache, 8
 * such shell runs × 10 rounds lost 3 to the cache and 3 to the creation lock.
 */
describe("concurrent runs of one TerraformRunner", () => {
  it("do not use a plugin cache when the CLI configuration has a filesystem mirror", async () => {
    const cache = await tempDir("ptm-tf-cache-");
    const runner = await makeRunner({ pluginCacheDir: cache });
    expect(runner.pluginCacheDir).toBeUndefined();
    expect(runner.pluginCacheNote).toMatch(/not used: the CLI configuration installs providers from a filesystem mirror/);

    const schema = newSchema();
    const run = runFor(schema, providerStack(schema, 0));
    await runner.prepare(run);
    // init linked the provider straight from the immutable mirror, not through a cache.
    const providerDir = path.join(runner.dataDir(run), "providers/registry.opentofu.org/bpg/proxmox", platformEnv().PTM_PROVIDER_VERSION, "linux_amd64");
    expect((await lstat(providerDir)).isSymbolicLink()).toBe(true);
    const target = await realpath(path.resolve(path.dirname(providerDir), await readlink(providerDir)));
    const mirror = /filesystem_mirror\s*\{[^}]*path\s*=\s*"([^"]+)"/.exec(await readFile(platformEnv().TF_CLI_CONFIG_FILE, "utf8"))?.[1];
    expect(mirror).toMatch(/^\//);
    expect(target.startsWith(await realpath(mirror!))).toBe(true);
  });

  it("use a plugin cache only when asked and there is no mirror", async () => {
    const cache = await tempDir("ptm-tf-cache-");
    const cliConfig = path.join(await tempDir("ptm-tf-rc-"), "tofurc");
    await writeFile(cliConfig, 'provider_installation {\n  direct {}\n}\n');
    expect((await makeRunner({ cliConfigFile: cliConfig, pluginCacheDir: cache })).pluginCacheDir).toBe(cache);
    expect((await makeRunner({ cliConfigFile: cliConfig, pluginCacheDir: undefined })).pluginCacheDir).toBeUndefined();
  });

  it("wait for the pg backend's workspace-creation lock instead of failing at once", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    // A first run makes the schema, so the lock below is the only thing in the way.
    await runner.prepare(runFor(schema, stack(schema, {}), { workspace: "first" }));
    const run = runFor(schema, stack(schema, {}), { workspace: "ns.second" });

    await withPg(async (c) => {
      // As if another VM's workspace were being created in this schema right now.
      await c.query("select pg_advisory_lock($1)", [workspaceCreationLockKey(schema)]);
      // The first command on the workspace creates it (plan here).
      const prepared = runner.prepare(run).then(() => runner.plan(run));
      const retried = await waitFor(async () => run.events.some((e) => /another run is creating a workspace or the state schema/.test(e.message)), 20_000);
      await c.query("select pg_advisory_unlock($1)", [workspaceCreationLockKey(schema)]);
      expect(retried).toBe(true);
      await prepared;
    });
    const attempts = run.events.filter((e) => e.type === "command" && /^tofu plan/.test(e.message));
    expect(attempts.length).toBeGreaterThan(1);
    const workspaces = await withPg((c) => c.query<{ name: string }>(`select name from ${schema}.states where name = 'ns.second'`));
    expect(workspaces.rowCount).toBe(1);
  });

  it.each([1, 2, 3])("succeed together on a fresh state schema (round %i)", async () => {
    const runner: TerraformRunner = await makeRunner({ lockTimeout: "30s" });
    const schema = newSchema();
    const runs = Array.from({ length: 8 }, (_, i) => runFor(schema, providerStack(schema, i), { workspace: `ns.vm-${i}` }));
    const results = await Promise.allSettled(
      runs.map(async (run, i) => {
        // Half start together (inits and workspace creations collide), half later (plans overlap inits).
        await pause(i < 4 ? 0 : (i - 3) * 200);
        await runner.prepare(run);
        const plan = await runner.plan(run);
        await runner.discardPlan(plan.planFile ?? "");
        return plan;
      }),
    );
    const failures = results.flatMap((r, i) => (r.status === "rejected" ? [`${runs[i]!.workspace}: ${String((r.reason as Error).message)}`] : []));
    expect(failures).toEqual([]);
    for (const r of results) expect(r.status === "fulfilled" && r.value.changes.add).toBe(1);

    const workspaces = await withPg((c) => c.query<{ name: string }>(`select name from ${schema}.states order by name`));
    expect(workspaces.rows.map((r) => r.name)).toEqual(expect.arrayContaining(runs.map((r) => r.workspace)));
  });
});
