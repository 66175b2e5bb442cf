import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { dropSchemas, withPg } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { TerraformRunner, type RunOptions, type TerraformEvent, type TerraformRunnerOptions } from "../../src/terraform/index.js";

/** The platform's PostgreSQL as the pg backend wants it (the private cluster has no TLS). */
export function pgConnStr(): string {
  const url = new URL(platformEnv().DATABASE_URL);
  url.searchParams.set("sslmode", "disable");
  return url.toString();
}

export function uniqueSchema(prefix = "tf"): string {
  return `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

export { withPg };

export async function dropSchema(schema: string): Promise<void> {
  await dropSchemas(schema);
}

/** A Terraform JSON configuration with the pg backend in `schema` and the given top-level blocks. */
export function stack(schema: string, blocks: Record<string, unknown>): string {
  return JSON.stringify({ terraform: { backend: { pg: { schema_name: schema } } }, ...blocks }, null, 2);
}

/** Temporary directories made by `tempDir`, for the test file's afterAll to remove. */
export const tempDirs: string[] = [];

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function makeRunner(overrides: Partial<TerraformRunnerOptions> = {}): Promise<TerraformRunner> {
  const env = platformEnv();
  return new TerraformRunner({
    binary: env.TOFU_BIN,
    flavor: "tofu",
    workdirRoot: await tempDir("ptm-tf-work-"),
    cliConfigFile: env.TF_CLI_CONFIG_FILE,
    killGraceMs: 10_000,
    ...overrides,
  });
}

/** RunOptions for one VM with an event log. */
export function runFor(
  schema: string,
  configJson: string,
  overrides: Partial<RunOptions> = {},
): RunOptions & { events: TerraformEvent[] } {
  const events: TerraformEvent[] = [];
  return {
    workdirName: `vm-${randomUUID().slice(0, 8)}`,
    configJson,
    workspace: "vm-100",
    env: { PG_CONN_STR: pgConnStr() },
    timeoutMs: 120_000,
    onEvent: (e) => events.push(e),
    events,
    ...overrides,
  };
}

/** Every regular file under `dir` (symlinks not followed), with its contents. */
export async function readTree(dir: string): Promise<{ file: string; content: Buffer }[]> {
  const out: { file: string; content: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await readTree(file)));
    else if (entry.isFile()) out.push({ file, content: await readFile(file) });
  }
  return out;
}

/** PIDs of processes whose command line contains `needle` (Linux /proc). */
export async function pidsWithArg(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (cmdline.split("\0").some((a) => a.includes(needle))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** PIDs of processes whose working directory is `dir`, optionally only those running `comm`. */
export async function pidsInDir(dir: string, comm?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readlink(`/proc/${name}/cwd`)) !== dir) continue;
      if (comm && (await readFile(`/proc/${name}/comm`, "utf8")).trim() !== comm) continue;
      pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}

/** A test file's source of fresh state schemas: every schema it handed out, and the temp dirs, go after the file's tests. */
export function schemasDroppedAfterAll(): () => string {
  const schemas: string[] = [];
  afterAll(async () => {
    await Promise.all(schemas.map(dropSchema));
    await removeTempDirs();
  });
  return () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    return schema;
  };
}
