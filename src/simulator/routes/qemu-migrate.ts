/** /nodes/{node}/qemu/{vmid}/migrate (qemu-server's migrate_vm). */
import { boolParam, NODE_PARAM } from "../params.js";
import { migrateVm } from "../migrate-vm.js";
import type { Router } from "../router.js";
import { taskAnswer, verify, vmidOf } from "./common.js";

export function registerQemuMigrateRoutes(router: Router): void {
  router.post("/nodes/{node}/qemu/{vmid}/migrate", async (req) => {
    const p = verify(req, {
      target: NODE_PARAM,
      online: { type: "boolean", optional: true },
      force: { type: "boolean", optional: true },
      migration_type: { type: "string", optional: true, enum: ["secure", "insecure"] },
      migration_network: { type: "string", optional: true },
      "with-local-disks": { type: "boolean", optional: true },
      "with-conntrack-state": { type: "boolean", optional: true },
      targetstorage: { type: "string", optional: true },
      bwlimit: { type: "integer", optional: true, minimum: 0 },
    });
    return taskAnswer(
      migrateVm(req.ctx, req.path.node as string, vmidOf(req), req.user, {
        target: p.target as string,
        online: boolParam(p.online),
        force: boolParam(p.force),
        withLocalDisks: boolParam(p["with-local-disks"]),
        targetstorage: p.targetstorage,
      }),
    );
  });
}
