/** /version, /cluster/* and /pools. */
import { fail, paramError } from "../errors.js";
import { boolParam, VMID_PARAM } from "../params.js";
import type { Router } from "../router.js";
import { usedBytes } from "../state.js";
import { vmResource } from "../vm-status.js";
import { verify } from "./common.js";
import { isOffline, offlineNodeEntry, unknownVmEntry } from "../node-reachability.js";
import { hasPrivileges } from "../permissions.js";

const POOL_ID = { type: "string", pattern: /[A-Za-z0-9\-_]+/ } as const;

export function registerClusterRoutes(router: Router): void {
  router.get("/version", (req) => {
    verify(req, {});
    const version = req.ctx.state.version;
    return { version, release: version.split(".").slice(0, 2).join("."), repoid: "3b6d4c2a1f0e9d8c" };
  });

  router.get("/cluster/nextid", (req) => {
    const p = verify(req, { vmid: { ...VMID_PARAM, optional: true } });
    const ids = req.ctx.state.vms;
    if (p.vmid !== undefined) {
      if (!ids[p.vmid]) return p.vmid;
      throw paramError({ vmid: `VM ${p.vmid} already exists` });
    }
    for (let i = 100; i < 1_000_000; i++) if (!ids[i]) return String(i);
    throw fail("unable to get any free VMID in range [100, 1000000]");
  });

  router.get("/cluster/resources", (req) => {
    const p = verify(req, { type: { type: "string", optional: true, enum: ["vm", "storage", "node", "sdn"] } });
    const { state } = req.ctx;
    const out: unknown[] = [];
    if (!p.type || p.type === "vm") {
      for (const vm of Object.values(state.vms).sort((a, b) => a.vmid - b.vmid)) {
        if (!hasPrivileges(state, req.user, `/vms/${vm.vmid}`, ["VM.Audit"])) continue;
        out.push(isOffline(state.nodes[vm.node]) ? unknownVmEntry(vm) : vmResource(req.ctx, vm));
      }
    }
    if (!p.type || p.type === "node") {
      for (const n of Object.values(state.nodes)) {
        if (isOffline(n)) {
          out.push(offlineNodeEntry(n));
          continue;
        }
        out.push({ id: `node/${n.name}`, type: "node", node: n.name, status: "online", cpu: 0.02, maxcpu: n.cpus, mem: Math.floor(n.memory * 0.2), maxmem: n.memory, disk: 0, maxdisk: 100 * 2 ** 30, uptime: 86400, level: "", cgroup_mode: 2 });
      }
    }
    if (!p.type || p.type === "storage") {
      for (const s of Object.values(state.storages)) {
        if (!hasPrivileges(state, req.user, `/storage/${s.id}`, ["Datastore.Audit"])) continue;
        for (const n of Object.values(state.nodes)) {
          if (s.nodes && !s.nodes.includes(n.name)) continue;
          out.push({ id: `storage/${n.name}/${s.id}`, type: "storage", storage: s.id, node: n.name, status: "available", plugintype: s.type, content: s.content.join(","), shared: s.shared ? 1 : 0, disk: usedBytes(s), maxdisk: s.total });
        }
      }
    }
    if (!p.type) {
      for (const pool of Object.values(state.pools)) out.push({ id: `/pool/${pool.id}`, type: "pool", pool: pool.id });
    }
    return out;
  });

  router.get("/cluster/status", (req) => {
    verify(req, {});
    const nodes = Object.values(req.ctx.state.nodes);
    return [
      { type: "cluster", id: "cluster", name: "pve-sim", nodes: nodes.length, quorate: 1, version: 1 },
      ...nodes.map((n, i) => ({ type: "node", id: `node/${n.name}`, name: n.name, nodeid: i + 1, online: isOffline(n) ? 0 : 1, local: i === 0 ? 1 : 0, ip: `127.0.0.${i + 1}`, level: "" })),
    ];
  });

  const poolMembers = (req: Parameters<Parameters<Router["get"]>[1]>[0], poolid: string, type?: string) => {
    const { ctx } = req;
    const pool = ctx.state.pools[poolid];
    if (!pool) throw fail(`pool '${poolid}' does not exist`);
    const members: unknown[] = [];
    if (!type || type === "qemu") {
      for (const vmid of [...pool.vms].sort((a, b) => a - b)) {
        const vm = ctx.state.vms[vmid];
        if (vm) members.push(vmResource(ctx, vm));
      }
    }
    if (!type || type === "storage") {
      for (const id of pool.storage) {
        const s = ctx.state.storages[id];
        const node = Object.keys(ctx.state.nodes)[0] as string;
        if (s) members.push({ id: `storage/${node}/${id}`, type: "storage", storage: id, node, disk: usedBytes(s), maxdisk: s.total, status: "available", plugintype: s.type, content: s.content.join(","), shared: s.shared ? 1 : 0 });
      }
    }
    return { pool, members };
  };

  router.get("/pools", (req) => {
    const p = verify(req, { poolid: { ...POOL_ID, optional: true }, type: { type: "string", optional: true, enum: ["qemu", "lxc", "storage"] } });
    if (p.type && !p.poolid) throw paramError({ type: "property 'poolid' is missing" });
    if (p.poolid) {
      const { pool, members } = poolMembers(req, p.poolid, p.type);
      return [{ poolid: pool.id, ...(pool.comment ? { comment: pool.comment } : {}), members }];
    }
    return Object.values(req.ctx.state.pools)
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((pool) => ({ poolid: pool.id, ...(pool.comment ? { comment: pool.comment } : {}) }));
  });

  router.get("/pools/{poolid}", (req) => {
    const p = verify(req, { poolid: POOL_ID, type: { type: "string", optional: true, enum: ["qemu", "lxc", "storage"] } });
    const { pool, members } = poolMembers(req, p.poolid as string, p.type);
    return { ...(pool.comment ? { comment: pool.comment } : {}), members };
  });

  router.post("/pools", (req) => {
    const p = verify(req, { poolid: POOL_ID, comment: { type: "string", optional: true } });
    const id = p.poolid as string;
    if (req.ctx.state.pools[id]) throw fail(`create pool failed: pool '${id}' already exists`);
    req.ctx.state.pools[id] = { id, comment: p.comment, vms: [], storage: [] };
    req.ctx.changed();
    return null;
  });

  const updatePool = (req: Parameters<Parameters<Router["get"]>[1]>[0]) => {
    const p = verify(req, {
      poolid: POOL_ID,
      comment: { type: "string", optional: true },
      vms: { type: "string", optional: true },
      storage: { type: "string", optional: true },
      delete: { type: "boolean", optional: true },
      "allow-move": { type: "boolean", optional: true },
    });
    const { ctx } = req;
    const pool = ctx.state.pools[p.poolid as string];
    if (!pool) throw fail(`pool '${p.poolid}' does not exist`);
    const del = boolParam(p.delete);
    if (p.comment !== undefined) pool.comment = p.comment;
    for (const raw of (p.vms ?? "").split(/[,;\s]+/).filter(Boolean)) {
      const vmid = Number(raw);
      if (!ctx.state.vms[vmid]) throw fail(`guest with ID '${raw}' does not exist`);
      if (del) {
        pool.vms = pool.vms.filter((v) => v !== vmid);
        continue;
      }
      const other = Object.values(ctx.state.pools).find((o) => o.id !== pool.id && o.vms.includes(vmid));
      if (other) {
        if (!boolParam(p["allow-move"])) throw fail(`VM ${vmid} belongs already to pool '${other.id}' and 'allow-move' is not set`);
        other.vms = other.vms.filter((v) => v !== vmid);
      }
      if (!pool.vms.includes(vmid)) pool.vms.push(vmid);
    }
    for (const sid of (p.storage ?? "").split(/[,;\s]+/).filter(Boolean)) {
      if (!ctx.state.storages[sid]) throw fail(`storage '${sid}' does not exist`);
      if (del) pool.storage = pool.storage.filter((s) => s !== sid);
      else if (!pool.storage.includes(sid)) pool.storage.push(sid);
    }
    ctx.changed();
    return null;
  };
  router.put("/pools", updatePool);
  router.put("/pools/{poolid}", updatePool);

  const deletePool = (req: Parameters<Parameters<Router["get"]>[1]>[0]) => {
    const p = verify(req, { poolid: POOL_ID });
    const pool = req.ctx.state.pools[p.poolid as string];
    if (!pool) throw fail(`delete pool failed: pool '${p.poolid}' does not exist`);
    if (pool.vms.length > 0 || pool.storage.length > 0) throw fail("delete pool failed: pool is not empty");
    delete req.ctx.state.pools[pool.id];
    req.ctx.changed();
    return null;
  };
  router.delete("/pools", deletePool);
  router.delete("/pools/{poolid}", deletePool);
}
