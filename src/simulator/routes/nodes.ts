/** /nodes, node status and network, and tasks (storages: storage.ts). */
import { paramError } from "../errors.js";
import type { RequestContext, Router } from "../router.js";
import type { TaskRecord } from "../tasks.js";
import { decodeUpid } from "../upid.js";
import { verify } from "./common.js";
import { isOffline, offlineNodeEntry } from "../node-reachability.js";

/** The fields Proxmox reports for every task, in its task list and its status alike. */
function taskIdentity(t: TaskRecord) {
  return { upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id, user: t.user };
}

function requireTask(req: RequestContext) {
  const node = req.path.node as string;
  req.ctx.requireNode(node);
  const upid = req.path.upid as string;
  if (!decodeUpid(upid)) throw paramError({ upid: "unable to parse worker upid" });
  const task = req.ctx.tasks.get(upid);
  if (!task || task.node !== node) throw paramError({ upid: "no such task" });
  return task;
}

export function registerNodeRoutes(router: Router): void {
  router.get("/nodes", (req) => {
    verify(req, {});
    return Object.values(req.ctx.state.nodes).map((n) => isOffline(n) ? { ...offlineNodeEntry(n), ssl_fingerprint: req.ctx.fingerprint ?? "" } : ({
      node: n.name,
      id: `node/${n.name}`,
      type: "node",
      status: "online",
      cpu: 0.02,
      maxcpu: n.cpus,
      mem: Math.floor(n.memory * 0.2),
      maxmem: n.memory,
      disk: 5 * 2 ** 30,
      maxdisk: 100 * 2 ** 30,
      uptime: 86400,
      level: "",
      ssl_fingerprint: req.ctx.fingerprint ?? "",
    }));
  });

  router.get("/nodes/{node}", (req) => {
    verify(req, {});
    req.ctx.requireNode(req.path.node as string);
    return ["qemu", "storage", "tasks", "network", "status", "version"].map((subdir) => ({ subdir }));
  });

  router.get("/nodes/{node}/status", (req) => {
    verify(req, {});
    const n = req.ctx.requireNode(req.path.node as string);
    return {
      uptime: 86400,
      cpu: 0.02,
      loadavg: ["0.10", "0.08", "0.05"],
      memory: { total: n.memory, used: Math.floor(n.memory * 0.2), free: Math.ceil(n.memory * 0.8) },
      cpuinfo: { cpus: n.cpus, sockets: 1, cores: n.cpus, model: "Simulated CPU", mhz: "2400.000", hvm: "1" },
      pveversion: `pve-manager/${req.ctx.state.version}/3b6d4c2a1f0e9d8c`,
      kversion: "Linux 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2",
      "boot-info": { mode: "efi", secureboot: 0 },
      "current-kernel": { sysname: "Linux", release: "6.14.8-2-pve", machine: "x86_64" },
    };
  });

  router.get("/nodes/{node}/version", (req) => {
    verify(req, {});
    req.ctx.requireNode(req.path.node as string);
    const version = req.ctx.state.version;
    return { version, release: version.split(".").slice(0, 2).join("."), repoid: "3b6d4c2a1f0e9d8c" };
  });

  router.get("/nodes/{node}/network", (req) => {
    verify(req, { type: { type: "string", optional: true } });
    const n = req.ctx.requireNode(req.path.node as string);
    if (req.params.type && !["bridge", "any_bridge", "any_local_bridge"].includes(req.params.type)) return [];
    return n.bridges.map((b, i) => ({
      iface: b,
      type: "bridge",
      active: 1,
      autostart: 1,
      bridge_ports: `eno${i + 1}`,
      bridge_stp: "off",
      bridge_fd: "0",
      method: "manual",
      method6: "manual",
      families: ["inet"],
      priority: i + 1,
    }));
  });

  router.get("/nodes/{node}/tasks", (req) => {
    const p = verify(req, {
      start: { type: "integer", optional: true, minimum: 0 },
      limit: { type: "integer", optional: true, minimum: 0 },
      vmid: { type: "integer", optional: true },
      typefilter: { type: "string", optional: true },
      userfilter: { type: "string", optional: true },
      errors: { type: "boolean", optional: true },
      source: { type: "string", optional: true, enum: ["archive", "active", "all"] },
      statusfilter: { type: "string", optional: true },
      since: { type: "integer", optional: true },
      until: { type: "integer", optional: true },
    });
    const node = req.path.node as string;
    req.ctx.requireNode(node);
    const list = req.ctx.tasks
      .list()
      .filter((t) => t.node === node)
      .filter((t) => !p.vmid || t.id === p.vmid)
      .filter((t) => !p.typefilter || t.type === p.typefilter)
      .filter((t) => !p.userfilter || t.user.includes(p.userfilter))
      .filter((t) => !p.source || p.source === "all" || (p.source === "active") === (t.status === "running"))
      .sort((a, b) => b.starttime - a.starttime);
    const start = Number(p.start ?? 0);
    const limit = Number(p.limit ?? 50);
    return list.slice(start, start + limit).map((t) => ({
      ...taskIdentity(t),
      ...(t.status === "stopped" ? { endtime: t.endtime, status: t.exitstatus } : {}),
    }));
  });

  router.get("/nodes/{node}/tasks/{upid}", (req) => {
    verify(req, { upid: { type: "string" } });
    requireTask(req);
    return [{ name: "log" }, { name: "status" }];
  });

  router.get("/nodes/{node}/tasks/{upid}/status", (req) => {
    verify(req, { upid: { type: "string" } });
    const t = requireTask(req);
    return {
      ...taskIdentity(t),
      status: t.status,
      ...(t.status === "stopped" ? { exitstatus: t.exitstatus } : {}),
    };
  });

  router.get("/nodes/{node}/tasks/{upid}/log", (req) => {
    const p = verify(req, {
      upid: { type: "string" },
      start: { type: "integer", optional: true, minimum: 0 },
      limit: { type: "integer", optional: true, minimum: 0 },
      download: { type: "boolean", optional: true },
    });
    const t = requireTask(req);
    const start = Number(p.start ?? 0);
    const limit = Number(p.limit ?? 50);
    return t.log.slice(start, start + limit).map((line, i) => ({ n: start + i + 1, t: line }));
  });

  router.delete("/nodes/{node}/tasks/{upid}", (req) => {
    verify(req, { upid: { type: "string" } });
    const t = requireTask(req);
    if (t.status === "running") {
      t.status = "stopped";
      t.exitstatus = "interrupted by signal";
      t.log.push("received interrupt", "TASK ERROR: interrupted by signal");
      req.ctx.changed();
    }
    return null;
  });
}
