/** /nodes/{node}/qemu/{vmid}/move_disk (qemu-server's move_vm_disk; the API has no `move-disk` path, only qm's CLI does). */
import { boolParam, STORAGE_PARAM, VMID_PARAM } from "../params.js";
import { DRIVE_KEY_RE } from "../qemu-schema.js";
import { moveVmDisk } from "../move-disk.js";
import { fail, paramError } from "../errors.js";
import type { Router } from "../router.js";
import { taskAnswer, verify, vmidOf } from "./common.js";

const DISK = { type: "string", pattern: new RegExp(`(${DRIVE_KEY_RE.source.replace(/^\^|\$$/g, "")}|unused\\d+)`) } as const;

export function registerQemuDiskRoutes(router: Router): void {
  router.post("/nodes/{node}/qemu/{vmid}/move_disk", async (req) => {
    const p = verify(req, {
      disk: DISK,
      storage: { ...STORAGE_PARAM, optional: true },
      "target-vmid": { ...VMID_PARAM, optional: true },
      "target-disk": { ...DISK, optional: true },
      "target-digest": { type: "string", optional: true },
      format: { type: "string", optional: true, enum: ["raw", "qcow2", "vmdk"] },
      delete: { type: "boolean", optional: true },
      digest: { type: "string", optional: true },
      bwlimit: { type: "integer", optional: true, minimum: 0 },
    });
    if (p["target-vmid"] && p.storage) {
      const message = "either set 'storage' or 'target-vmid', but not both";
      throw paramError({ "target-vmid": message, storage: message });
    }
    if (p["target-vmid"]) throw fail("the simulator does not model reassigning a disk to another VM (target-vmid); no ProxmoxVM field asks for it", 501);
    if (!p.storage) {
      const message = "both 'storage' and 'target-vmid' missing, either needs to be set";
      throw paramError({ "target-vmid": message, storage: message });
    }
    return taskAnswer(
      moveVmDisk(req.ctx, req.path.node as string, vmidOf(req), req.user, {
        disk: p.disk as string,
        storage: p.storage,
        format: p.format,
        delete: boolParam(p.delete),
        digest: p.digest,
      }),
    );
  });
}
