import { spawnSync } from "node:child_process";
import { deleteNamespace, kubectl } from "./kube.js";
import { repoRoot } from "./paths.js";

/**
 * Brings the real platform up before any integration test runs. `scripts/platform up` is
 * idempotent: when everything already runs it returns in about a second; on a fresh machine it
 * installs packages and builds the Go tools (minutes), printing its progress.
 */
export default async function setup(): Promise<void> {
  if (process.env.PTM_SKIP_PLATFORM_UP === "1") return;
  const result = spawnSync("scripts/platform", ["up"], { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`scripts/platform up failed with exit code ${result.status}; see .platform/logs/`);
  }
  // The browser tests drive Debian's Chromium; install it here so `npm test` alone suffices.
  const chromium = spawnSync("scripts/ensure-chromium", [], { cwd: repoRoot, stdio: "inherit" });
  if (chromium.status !== 0) throw new Error(`scripts/ensure-chromium failed with exit code ${chromium.status}`);
  await pruneTerminatingNamespaces();
}

/**
 * Namespaces some earlier run deleted but could not finish (killed, or from before the harness
 * finalized its namespace): with no namespace controller they, and the ProxmoxVMs their
 * finalizers hold, would stay in etcd for ever. Terminating means their owner is done with them.
 */
async function pruneTerminatingNamespaces(): Promise<void> {
  const list = JSON.parse(await kubectl(["get", "namespaces", "-o", "json"])) as { items: { metadata: { name: string }; status?: { phase?: string } }[] };
  for (const ns of list.items) if (ns.status?.phase === "Terminating") await deleteNamespace(ns.metadata.name);
}
