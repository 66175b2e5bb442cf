import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { platformEnv } from "./platform-env.js";

const execFileAsync = promisify(execFile);

export interface TofuResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the platform's tofu in `dir`; never rejects on a non-zero exit (callers assert on it). */
export async function tofu(dir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<TofuResult> {
  const env = platformEnv();
  try {
    const { stdout, stderr } = await execFileAsync(env.TOFU_BIN, args, {
      cwd: dir,
      env: { ...process.env, ...env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1", ...extraEnv },
      maxBuffer: 256 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** A fresh work directory holding the given Terraform JSON configuration. */
export async function tofuWorkdir(config: unknown, prefix = "ptm-tofu-"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeFile(path.join(dir, "main.tf.json"), JSON.stringify(config, null, 2));
  return dir;
}
