/** /nodes/{node}/qemu/...: VM list, config, pending, clone, resize, power, delete, template. */
import { decodeSshKeys, validSshPublicKeys } from "../config-strings.js";
import { agentEnabled } from "../guest-agent.js";
import { fail } from "../errors.js";
import { boolParam, NODE_PARAM, STORAGE_PARAM, VMID_PARAM } from "../params.js";
import { DRIVE_KEY_RE, jsonValue, optionSpec, validateOption } from "../qemu-schema.js";
import type { RequestContext, Router } from "../router.js";
import { configDigest, pendingList, withPendingApplied } from "../vm-config.js";
import { cloneVm, convertToTemplate, createVm, destroyVm, rebootVm, resizeVmDisk, shutdownVm, startVm, stopVm } from "../vm-lifecycle.js";
import { vmListEntry, vmStatusCurrent } from "../vm-status.js";
import { checkLock, updateVmConfigAsync, updateVmConfigSync } from "../vm-update.js";
import { skiplockOf, taskAnswer, verify, vmidOf } from "./common.js";

const bool = { type: "boolean", optional: true } as const;
const int = { type: "integer", optional: true, minimum: 0 } as const;
const str = { type: "string", optional: true } as const;

function vmOf(req: RequestContext) {
  return req.ctx.requireVm(req.path.node as string, vmidOf(req));
}

/** Any qemu option may be passed to PUT/POST config; each value is verified against its schema. */
const configOption = (key: string, value: string) => {
  try {
    validateOption(key, value);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

const CONFIG_CONTROL = {
  delete: str,
  revert: str,
  digest: str,
  skiplock: bool,
  force: bool,
  background_delay: { type: "integer", optional: true, minimum: 1, maximum: 30 },
  skip_cloud_init: bool,
  "import-working-storage": { ...STORAGE_PARAM, optional: true },
} as const;

export function registerQemuRoutes(router: Router): void {
  router.get("/nodes/{node}/qemu", (req) => {
    verify(req, { full: bool });
    const node = req.path.node as string;
    req.ctx.requireNode(node);
    return Object.values(req.ctx.state.vms)
      .filter((vm) => vm.node === node)
      .sort((a, b) => a.vmid - b.vmid)
      .map((vm) => vmListEntry(req.ctx, vm));
  });

  router.post("/nodes/{node}/qemu", async (req) => {
    const p = verify(
      req,
      {
        vmid: VMID_PARAM,
        pool: { type: "string", optional: true, pattern: /[A-Za-z0-9\-_]+/ },
        start: bool,
        storage: { ...STORAGE_PARAM, optional: true },
        force: bool,
        unique: bool,
        archive: str,
        bwlimit: int,
        "live-restore": bool,
        "import-working-storage": { ...STORAGE_PARAM, optional: true },
      },
      configOption,
    );
    if (p.archive) throw fail("the simulator does not model restoring from a backup archive; no ProxmoxVM field asks for it", 501);
    const { node: _n, vmid, pool, start, storage: _s, force: _f, unique: _u, bwlimit: _b, ...rest } = p;
    const options: Record<string, string> = {};
    for (const [key, value] of Object.entries(rest)) {
      if (key === "live-restore" || key === "import-working-storage") continue;
      options[key] = validateOption(key, value);
    }
    if (options.sshkeys !== undefined && !validSshPublicKeys(decodeSshKeys(options.sshkeys))) throw fail("SSH public key validation error");
    return taskAnswer(createVm(req.ctx, req.path.node as string, Number(vmid), req.user, { options, pool, start: boolParam(start) }));
  });

  router.get("/nodes/{node}/qemu/{vmid}", (req) => {
    verify(req, {});
    vmOf(req);
    return ["config", "pending", "status", "agent", "clone", "resize", "template", "cloudinit"].map((subdir) => ({ subdir }));
  });

  router.get("/nodes/{node}/qemu/{vmid}/config", (req) => {
    const p = verify(req, { current: bool, snapshot: str });
    if (p.snapshot && boolParam(p.current)) {
      throw fail("Parameter verification failed.", 400);
    }
    const vm = vmOf(req);
    if (p.snapshot) throw fail(`snapshot '${p.snapshot}' does not exist`);
    const conf = boolParam(p.current) ? { ...vm.conf } : withPendingApplied(vm);
    const out: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(conf)) out[k] = jsonValue(k, v);
    if (conf.cipassword) out.cipassword = "**********";
    out.digest = configDigest(vm);
    return out;
  });

  router.get("/nodes/{node}/qemu/{vmid}/pending", (req) => {
    verify(req, {});
    const vm = vmOf(req);
    return pendingList(vm).map((item) => {
      const out: Record<string, string | number> = { ...item };
      const key = String(item.key);
      if (item.value !== undefined) out.value = key === "cipassword" ? "**********" : jsonValue(key, String(item.value));
      if (item.pending !== undefined) out.pending = key === "cipassword" ? "**********" : jsonValue(key, String(item.pending));
      return out;
    });
  });

  router.put("/nodes/{node}/qemu/{vmid}/config", async (req) => {
    const p = verify(req, CONFIG_CONTROL, configOption);
    const { node: _n, vmid: _v, ...params } = p;
    await updateVmConfigSync(req.ctx, req.path.node as string, vmidOf(req), { params, user: req.user });
    return null;
  });

  router.post("/nodes/{node}/qemu/{vmid}/config", async (req) => {
    const p = verify(req, CONFIG_CONTROL, configOption);
    const { node: _n, vmid: _v, ...params } = p;
    return taskAnswer(updateVmConfigAsync(req.ctx, req.path.node as string, vmidOf(req), { params, user: req.user }));
  });

  router.post("/nodes/{node}/qemu/{vmid}/clone", async (req) => {
    const p = verify(req, {
      newid: VMID_PARAM,
      name: { type: "string", optional: true, pattern: optionSpec("name")?.pattern },
      description: str,
      pool: { type: "string", optional: true, pattern: /[A-Za-z0-9\-_]+/ },
      snapname: str,
      storage: { ...STORAGE_PARAM, optional: true },
      format: { type: "string", optional: true, enum: ["raw", "qcow2", "vmdk"] },
      full: bool,
      target: { ...NODE_PARAM, optional: true },
      bwlimit: int,
    });
    const node = req.path.node as string;
    const target = p.target && p.target !== node && p.target !== "localhost" ? p.target : undefined;
    return taskAnswer(
      cloneVm(
        req.ctx,
        node,
        vmidOf(req),
        {
          newid: Number(p.newid),
          name: p.name,
          description: p.description,
          pool: p.pool,
          snapname: p.snapname,
          storage: p.storage,
          format: p.format,
          full: p.full === undefined ? undefined : boolParam(p.full),
          target,
        },
        req.user,
      ),
    );
  });

  router.put("/nodes/{node}/qemu/{vmid}/resize", async (req) => {
    const p = verify(req, {
      disk: { type: "string", pattern: DRIVE_KEY_RE },
      size: { type: "string", pattern: /\+?\d+(\.\d+)?[KMGT]?/ },
      digest: str,
      skiplock: bool,
    });
    return taskAnswer(
      resizeVmDisk(req.ctx, req.path.node as string, vmidOf(req), req.user, {
        disk: p.disk as string,
        size: p.size as string,
        digest: p.digest,
        skiplock: skiplockOf(req, p.skiplock),
      }),
    );
  });

  router.get("/nodes/{node}/qemu/{vmid}/status", (req) => {
    verify(req, {});
    vmOf(req);
    return ["current", "start", "stop", "reset", "shutdown", "suspend", "reboot", "resume"].map((subdir) => ({ subdir }));
  });

  router.get("/nodes/{node}/qemu/{vmid}/status/current", (req) => {
    verify(req, {});
    return vmStatusCurrent(req.ctx, vmOf(req));
  });

  router.post("/nodes/{node}/qemu/{vmid}/status/start", async (req) => {
    const p = verify(req, {
      skiplock: bool,
      stateuri: str,
      migratedfrom: str,
      migration_type: str,
      migration_network: str,
      machine: str,
      "force-cpu": str,
      targetstorage: str,
      timeout: int,
    });
    return taskAnswer(startVm(req.ctx, req.path.node as string, vmidOf(req), req.user, skiplockOf(req, p.skiplock)));
  });

  router.post("/nodes/{node}/qemu/{vmid}/status/stop", async (req) => {
    const p = verify(req, { skiplock: bool, timeout: int, keepActive: bool, migratedfrom: str, "overrule-shutdown": bool });
    return taskAnswer(stopVm(req.ctx, req.path.node as string, vmidOf(req), req.user, skiplockOf(req, p.skiplock)));
  });

  router.post("/nodes/{node}/qemu/{vmid}/status/shutdown", async (req) => {
    const p = verify(req, { skiplock: bool, timeout: int, keepActive: bool, forceStop: bool });
    return taskAnswer(shutdownVm(req.ctx, req.path.node as string, vmidOf(req), req.user, skiplockOf(req, p.skiplock)));
  });

  router.post("/nodes/{node}/qemu/{vmid}/status/reboot", async (req) => {
    verify(req, { timeout: int });
    return taskAnswer(rebootVm(req.ctx, req.path.node as string, vmidOf(req), req.user));
  });

  router.delete("/nodes/{node}/qemu/{vmid}", async (req) => {
    const p = verify(req, { purge: bool, skiplock: bool, "destroy-unreferenced-disks": bool });
    return taskAnswer(
      destroyVm(req.ctx, req.path.node as string, vmidOf(req), req.user, {
        purge: boolParam(p.purge),
        destroyUnreferenced: boolParam(p["destroy-unreferenced-disks"]),
        skiplock: skiplockOf(req, p.skiplock),
      }),
    );
  });

  router.post("/nodes/{node}/qemu/{vmid}/template", async (req) => {
    verify(req, { disk: str });
    return taskAnswer(convertToTemplate(req.ctx, req.path.node as string, vmidOf(req), req.user));
  });

  router.put("/nodes/{node}/qemu/{vmid}/cloudinit", (req) => {
    verify(req, {});
    const vm = vmOf(req);
    checkLock(vm);
    return null;
  });

  router.get("/nodes/{node}/qemu/{vmid}/agent", (req) => {
    verify(req, {});
    const vm = vmOf(req);
    if (!agentEnabled(vm)) return [];
    return ["ping", "info", "get-host-name", "get-osinfo", "network-get-interfaces"].map((name) => ({ name }));
  });
}
