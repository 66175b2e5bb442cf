/**
 * Storages: the cluster's storage configuration (/storage), each node's view of them
 * (/nodes/{node}/storage/...: status, content listing, volume info and deletion), downloads by
 * URL and uploads (multipart, see uploads.ts) into file-based storages, and the node's URL
 * metadata query. After pve-storage's API2/Storage/{Config,Status,Content}.pm and
 * pve-manager's query_url_metadata.
 */
import { createHash } from "node:crypto";
import { splitVolumeId } from "../config-strings.js";
import { startDownload } from "../downloads.js";
import { fail, paramError } from "../errors.js";
import { FetchError, queryUrlMetadata } from "../http-fetch.js";
import { boolParam, STORAGE_PARAM } from "../params.js";
import type { RequestContext, Router } from "../router.js";
import { isBlockStorage, storageOnNode, usedBytes, type StorageState } from "../state.js";
import { contentOfVolname, isFileContentType } from "../storage-content.js";
import { storagePath, volumeNodePath } from "../storage-files.js";
import { startUpload } from "../uploads.js";
import { taskAnswer, verify } from "./common.js";

const CONTENT_ENUM = ["iso", "vztmpl", "import"] as const;
const CHECKSUM_ALGORITHMS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"] as const;
const URL_PARAM = { type: "string", pattern: /https?:\/\/.*/ } as const;

const maxLength255 = (v: string) => (v.length > 255 ? "value may only be 255 characters long" : undefined);

/** `checksum` and `checksum-algorithm` each `requires` the other (PVE::JSONSchema's message). */
function checkChecksumPair(p: Record<string, string>): void {
  const errors: Record<string, string> = {};
  if (p.checksum !== undefined && p["checksum-algorithm"] === undefined) errors["checksum-algorithm"] = "missing property required by 'checksum'";
  if (p["checksum-algorithm"] !== undefined && p.checksum === undefined) errors.checksum = "missing property required by 'checksum-algorithm'";
  if (Object.keys(errors).length > 0) throw paramError(errors);
}

function storageEntry(s: StorageState) {
  const used = usedBytes(s);
  return {
    storage: s.id,
    type: s.type,
    content: s.content.join(","),
    active: 1,
    enabled: 1,
    shared: s.shared ? 1 : 0,
    total: s.total,
    used,
    avail: s.total - used,
    used_fraction: s.total > 0 ? used / s.total : 0,
  };
}

/** The digest of storage.cfg: every API read of the storage config carries it. */
function storageConfigDigest(storages: StorageState[]): string {
  const text = storages.map((s) => `${s.type}: ${s.id}\n\tcontent ${s.content.join(",")}\n`).join("\n");
  return createHash("sha1").update(text).digest("hex");
}

/** PVE::API2::Storage::Config's view of one storage (storage.cfg section, content encoded). */
function storageConfig(s: StorageState, digest: string): Record<string, string | number> {
  const out: Record<string, string | number> = { storage: s.id, type: s.type, content: s.content.join(","), digest };
  const p = storagePath(s);
  if (p) out.path = p;
  if (s.type === "lvmthin") Object.assign(out, { thinpool: "data", vgname: "pve" });
  if (s.type === "lvm") Object.assign(out, { vgname: s.id });
  if (s.type === "zfspool") Object.assign(out, { pool: `rpool/${s.id}`, sparse: 1 });
  if (s.shared) out.shared = 1;
  if (s.nodes) out.nodes = s.nodes.join(",");
  return out;
}

function requireNodeStorage(req: RequestContext): StorageState {
  const node = req.path.node as string;
  req.ctx.requireNode(node);
  const id = req.path.storage as string;
  const s = req.ctx.state.storages[id];
  if (!s) throw fail(`storage '${id}' does not exist`);
  if (!storageOnNode(s, node)) throw fail(`storage '${id}' is not available on node '${node}'`);
  return s;
}

/** The API's real_volume_id: a full volume id, or a volume name relative to `storage`. */
function volumeOf(req: RequestContext, s: StorageState): string {
  const raw = req.path.volume as string;
  const parts = splitVolumeId(raw);
  if (parts) {
    if (parts.storage !== s.id) throw fail(`storage ID mismatch (${parts.storage} != ${s.id})`);
    return parts.volname;
  }
  return raw;
}

export function registerStorageRoutes(router: Router): void {
  router.get("/storage", (req) => {
    const p = verify(req, { type: { type: "string", optional: true } });
    const all = Object.values(req.ctx.state.storages);
    const digest = storageConfigDigest(all);
    return all.filter((s) => !p.type || s.type === p.type).map((s) => storageConfig(s, digest));
  });

  router.get("/storage/{storage}", (req) => {
    verify(req, { storage: STORAGE_PARAM });
    const all = Object.values(req.ctx.state.storages);
    const s = req.ctx.state.storages[req.path.storage as string];
    if (!s) throw fail(`storage '${req.path.storage}' does not exist`);
    return storageConfig(s, storageConfigDigest(all));
  });

  router.get("/nodes/{node}/storage", (req) => {
    const p = verify(req, {
      content: { type: "string", optional: true },
      enabled: { type: "boolean", optional: true },
      format: { type: "boolean", optional: true },
      storage: { ...STORAGE_PARAM, optional: true },
      target: { type: "string", optional: true },
    });
    const node = req.path.node as string;
    req.ctx.requireNode(node);
    if (p.storage && !req.ctx.state.storages[p.storage]) throw paramError({ storage: "No such storage." });
    const wanted = (p.content ?? "").split(",").filter(Boolean);
    return Object.values(req.ctx.state.storages)
      .filter((s) => storageOnNode(s, node))
      .filter((s) => !p.storage || s.id === p.storage)
      .filter((s) => wanted.every((c) => s.content.includes(c)))
      .map((s) => {
        req.ctx.files.rescan(s);
        return storageEntry(s);
      });
  });

  router.get("/nodes/{node}/storage/{storage}", (req) => {
    verify(req, { storage: STORAGE_PARAM });
    requireNodeStorage(req);
    return ["content", "download-url", "file-restore", "import-metadata", "identity", "oci-registry-pull", "prunebackups", "rrd", "rrddata", "status", "upload"].map(
      (subdir) => ({ subdir }),
    );
  });

  router.get("/nodes/{node}/storage/{storage}/status", (req) => {
    verify(req, { storage: STORAGE_PARAM });
    const s = requireNodeStorage(req);
    req.ctx.files.rescan(s);
    const { storage: _id, used_fraction: _f, ...rest } = storageEntry(s);
    return rest;
  });

  router.get("/nodes/{node}/storage/{storage}/content", (req) => {
    const p = verify(req, { storage: STORAGE_PARAM, content: { type: "string", optional: true }, vmid: { type: "integer", optional: true } });
    const s = requireNodeStorage(req);
    req.ctx.files.rescan(s);
    return Object.entries(s.volumes)
      .filter(([, v]) => !p.content || v.content === p.content)
      .filter(([, v]) => !p.vmid || v.vmid === Number(p.vmid))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, v]) => ({
        volid: `${s.id}:${name}`,
        content: v.content,
        format: v.format,
        size: v.size,
        ...(v.content === "images" || v.content === "rootdir" ? { used: v.size } : {}),
        ctime: v.ctime ?? 1735689600,
        ...(v.vmid !== undefined ? { vmid: v.vmid } : {}),
        ...(/^base-\d+-disk-\d+\/vm-/.test(name) ? { parent: name.split("/")[0] } : {}),
      }));
  });

  router.get("/nodes/{node}/storage/{storage}/content/{volume}", (req) => {
    verify(req, { storage: STORAGE_PARAM, volume: { type: "string" } });
    const s = requireNodeStorage(req);
    req.ctx.files.rescan(s);
    const volname = volumeOf(req, s);
    const v = s.volumes[volname];
    if (!v) throw fail(`volume '${s.id}:${volname}' does not exist`);
    return { path: volumeNodePath(s, volname), size: v.size, used: v.size, format: v.format };
  });

  router.delete("/nodes/{node}/storage/{storage}/content/{volume}", async (req) => {
    const p = verify(req, { storage: STORAGE_PARAM, volume: { type: "string" }, delay: { type: "integer", optional: true, minimum: 1, maximum: 30 } });
    const s = requireNodeStorage(req);
    const volname = volumeOf(req, s);
    const volid = `${s.id}:${volname}`;
    req.ctx.files.rescan(s);
    const owner = s.volumes[volname]?.vmid;
    const node = req.path.node as string;
    const started = req.ctx.tasks.start(node, "imgdel", `${owner !== undefined ? `${owner}@` : ""}${s.id}`, req.user, async (t) => {
      await t.work();
      const v = s.volumes[volname];
      if (!v) {
        if (isBlockStorage(s) || !isFileContentType(contentOfVolname(volname) ?? "")) throw new Error(`volume '${volid}' does not exist`);
        t.warn(`disk image '${volumeNodePath(s, volname)}' does not exist`);
      } else {
        if (v.onDisk) req.ctx.files.remove(s.id, volname);
        delete s.volumes[volname];
        req.ctx.changed();
      }
      t.log(`Removed volume '${volid}'`);
    });
    if (p.delay) {
      await started.done;
      const task = started.task as { exitstatus?: string };
      if (task.exitstatus === "OK" || task.exitstatus?.startsWith("WARNINGS")) return null;
      throw fail(task.exitstatus ?? "unexpected status");
    }
    return taskAnswer(started);
  });

  router.post("/nodes/{node}/storage/{storage}/download-url", async (req) => {
    const p = verify(req, {
      storage: STORAGE_PARAM,
      url: URL_PARAM,
      content: { type: "string", enum: CONTENT_ENUM },
      filename: { type: "string", check: maxLength255 },
      checksum: { type: "string", optional: true },
      "checksum-algorithm": { type: "string", optional: true, enum: CHECKSUM_ALGORITHMS },
      compression: { type: "string", optional: true, enum: ["zst", "gz", "lzo", "bz2", "xz"] },
      "verify-certificates": { type: "boolean", optional: true },
    });
    checkChecksumPair(p);
    return taskAnswer(
      startDownload(
        req.ctx,
        {
          node: req.path.node as string,
          storage: req.path.storage as string,
          url: p.url as string,
          content: p.content as string,
          filename: p.filename as string,
          checksum: p.checksum,
          algorithm: p["checksum-algorithm"],
          verify: boolParam(p["verify-certificates"], true),
          compression: p.compression,
        },
        req.user,
      ),
    );
  });

  router.post("/nodes/{node}/storage/{storage}/upload", (req) => {
    const p = verify(req, {
      storage: STORAGE_PARAM,
      content: { type: "string", enum: CONTENT_ENUM },
      filename: { type: "string", check: maxLength255 },
      checksum: { type: "string", optional: true },
      "checksum-algorithm": { type: "string", optional: true, enum: CHECKSUM_ALGORITHMS },
      tmpfilename: { type: "string", optional: true, pattern: /\/var\/tmp\/pveupload-[0-9a-f]+/ },
    });
    checkChecksumPair(p);
    return taskAnswer(
      startUpload(
        req.ctx,
        {
          node: req.path.node as string,
          storage: req.path.storage as string,
          content: p.content as string,
          filename: p.filename as string,
          checksum: p.checksum,
          algorithm: p["checksum-algorithm"],
          tmpfilename: p.tmpfilename,
        },
        req.user,
      ),
    );
  });

  router.get("/nodes/{node}/query-url-metadata", async (req) => {
    const p = verify(req, { url: URL_PARAM, "verify-certificates": { type: "boolean", optional: true } });
    req.ctx.requireNode(req.path.node as string);
    try {
      return await queryUrlMetadata(p.url as string, boolParam(p["verify-certificates"], true));
    } catch (err) {
      if (err instanceof FetchError) throw fail(err.message);
      throw err;
    }
  });
}
