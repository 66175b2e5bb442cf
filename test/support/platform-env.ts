import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { platformDir } from "./paths.js";

export interface PlatformEnv {
  KUBECONFIG: string;
  REDIS_URL: string;
  DATABASE_URL: string;
  TOFU_BIN: string;
  TF_CLI_CONFIG_FILE: string;
  PATH: string;
  PTM_PROVIDER_VERSION: string;
  [name: string]: string;
}

const required = ["KUBECONFIG", "REDIS_URL", "DATABASE_URL", "TOFU_BIN", "TF_CLI_CONFIG_FILE", "PATH"] as const;

let cached: PlatformEnv | undefined;

/**
 * The environment `scripts/platform up` wrote to .platform/env, evaluated by bash exactly as a
 * user's `. .platform/env` would be, so tests and users see the same values.
 */
export function platformEnv(): PlatformEnv {
  if (cached) return cached;
  const file = path.join(platformDir, "env");
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/platform up`);
  const dump = execFileSync("bash", ["-c", `set -a; . "$0"; env -0`, file], { encoding: "utf8" });
  const env: Record<string, string> = {};
  for (const entry of dump.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  for (const name of required) {
    if (!env[name]) throw new Error(`${file} does not set ${name}`);
  }
  cached = env as PlatformEnv;
  return cached;
}
