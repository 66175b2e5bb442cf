import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/**
 * The operator's version from package.json, found by walking up from this file: it is
 * src/telemetry/ when run from source and dist/src/telemetry/ when built.
 */
export function operatorVersion(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "proxmox-terraform-manager" && pkg.version) return (cached = pkg.version);
    } catch {
      // not here: go up
    }
    dir = path.dirname(dir);
  }
  return (cached = "unknown");
}
