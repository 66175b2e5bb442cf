import { createHash } from "node:crypto";

/**
 * Identifies one synthesized configuration together with what will run it: the same JSON under a
 * different provider or tool version can plan differently, so the operator must not treat it as
 * already applied; the same JSON against another Proxmox endpoint is another VM. NUL separators
 * keep the parts from running into each other.
 */
export function synthesisHash(json: string, providerVersion: string, toolVersion: string, endpoint = ""): string {
  return createHash("sha256").update(json).update("\0").update(providerVersion).update("\0").update(toolVersion).update("\0").update(endpoint).digest("hex");
}
