/**
 * /cluster/ha/resources (pve-ha-manager's API2/HA/Resources.pm). The simulator has no HA
 * manager: no guest is HA-managed, so the list is empty and reading one resource fails the way
 * Proxmox fails for a service id that is not configured (the provider checks this before it
 * migrates a VM).
 */
import { fail, paramError } from "../errors.js";
import type { Router } from "../router.js";
import { verify } from "./common.js";

/** PVE::HA::Config::parse_sid: `vm:100`, `ct:101`, or a bare id (a VM here). */
function parseSid(sid: string): string {
  const m = /^(?:(vm|ct):)?(\d+)$/.exec(sid);
  if (!m) throw paramError({ sid: `unable to parse service id '${sid}'` });
  return `${m[1] ?? "vm"}:${m[2]}`;
}

export function registerHaRoutes(router: Router): void {
  router.get("/cluster/ha/resources", (req) => {
    verify(req, { type: { type: "string", optional: true, enum: ["ct", "vm"] } });
    return [];
  });

  router.get("/cluster/ha/resources/{sid}", (req) => {
    verify(req, {});
    throw fail(`no such resource '${parseSid(String(req.path.sid))}'`);
  });
}
