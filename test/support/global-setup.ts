import { spawnSync } from "node:child_process";
import { repoRoot } from "./paths.js";

/**
 * Brings the real platform up before any integration test runs. `scripts/platform up` is
 * idempotent: when everything already runs it returns in about a second; on a fresh machine it
 * installs packages and builds the Go tools (minutes), printing its progress.
 */
export default function setup(): void {
  if (process.env.PTM_SKIP_PLATFORM_UP === "1") return;
  const result = spawnSync("scripts/platform", ["up"], { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`scripts/platform up failed with exit code ${result.status}; see .platform/logs/`);
  }
  // The browser tests drive Debian's Chromium; install it here so `npm test` alone suffices.
  const chromium = spawnSync("scripts/ensure-chromium", [], { cwd: repoRoot, stdio: "inherit" });
  if (chromium.status !== 0) throw new Error(`scripts/ensure-chromium failed with exit code ${chromium.status}`);
}
