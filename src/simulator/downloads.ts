/**
 * POST /nodes/{node}/storage/{storage}/download-url, after pve-storage's download_url and
 * PVE::Tools::download_file_from_url: the checks Proxmox makes before forking fail the request;
 * the `download` task fetches the URL for real into `<file>.tmp_dwnl.<pid>`, verifies the
 * checksum, renames the file into the storage's content directory and logs what wget and
 * Proxmox print. A storage that fills up fails the download as the disk would.
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import path from "node:path";
import type { SimContext } from "./context.js";
import { fail } from "./errors.js";
import { downloadToFile, FetchError } from "./http-fetch.js";
import { requireStorage, usedBytes, type StorageState } from "./state.js";
import { checkTransferFilename, normalizeContentFilename, type FileContentType } from "./storage-content.js";
import { storagePath } from "./storage-files.js";

export interface DownloadRequest {
  node: string;
  storage: string;
  url: string;
  content: string;
  filename: string;
  checksum?: string;
  algorithm?: string;
  verify: boolean;
  compression?: string;
}

async function fileDigest(file: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The checks download_url makes before it forks; returns the storage and normalised name. */
export function checkDownload(ctx: SimContext, req: DownloadRequest): { storage: StorageState; filename: string } {
  ctx.requireNode(req.node);
  const storage = requireStorage(ctx.state, req.storage, req.node);
  if (!storagePath(storage)) throw fail(`can't upload to storage type '${storage.type}', not a file based storage!`);
  if (!storage.content.includes(req.content)) throw fail(`storage '${req.storage}' is not configured for content-type '${req.content}'`);
  const filename = normalizeContentFilename(req.filename);
  checkTransferFilename(req.content, filename, { otherContent: "upload content-type '%s' is not allowed" });
  return { storage, filename };
}

export function startDownload(ctx: SimContext, req: DownloadRequest, user: string) {
  const { storage, filename } = checkDownload(ctx, req);
  const content = req.content as FileContentType;
  return ctx.tasks.start(req.node, "download", filename, user, async (t) => {
    if (req.compression) {
      if (content !== "iso") throw new Error(`decompression not supported for ${content}`);
      throw new Error("no decompression method found");
    }
    const nodeDir = `${storagePath(storage)}/${content === "iso" ? "template/iso" : content === "vztmpl" ? "template/cache" : content}`;
    const nodeDest = `${nodeDir}/${filename}`;
    const hostDir = ctx.files.ensureContentDir(storage.id, content);
    const dest = path.join(hostDir, filename);
    const algorithm = req.checksum ? req.algorithm : undefined;
    t.log(`downloading ${req.url} to ${nodeDest}`);
    if (existsSync(dest)) {
      if (!algorithm || !req.checksum) throw new Error(`refusing to override existing file '${nodeDest}'`);
      const got = await fileDigest(dest, algorithm);
      if (got.toLowerCase() === req.checksum.toLowerCase()) {
        t.log("calculating checksum of existing file...OK, got correct file already, no need to download");
        return;
      }
      t.log("calculating checksum of existing file...");
      throw new Error(`checksum mismatch: got '${got}' != expect '${req.checksum}', aborting`);
    }
    const pid = decodePid(t.upid);
    const tmp = `${dest}.tmp_dwnl.${pid}`;
    const nodeTmp = `${nodeDest}.tmp_dwnl.${pid}`;
    try {
      await t.work();
      const wgetLog = (line: string) => t.log(line.replace(tmp, nodeTmp));
      let result;
      try {
        const free = storage.total - usedBytes(storage);
        result = await downloadToFile(req.url, tmp, {
          verify: req.verify,
          algorithm,
          log: wgetLog,
          beforeWrite: (total) => {
            if (total > free) throw new FetchError(`Cannot write to '${nodeTmp}' (No space left on device).`);
          },
        });
      } catch (err) {
        if (err instanceof FetchError) {
          for (const line of err.detail) t.log(line);
          throw new Error(`download failed: ${err.message}`);
        }
        throw err;
      }
      if (algorithm && req.checksum) {
        if (result.digest?.toLowerCase() === req.checksum.toLowerCase()) t.log("calculating checksum...OK, checksum verified");
        else {
          t.log("calculating checksum...");
          throw new Error(`checksum mismatch: got '${result.digest}' != expect '${req.checksum}'`);
        }
      }
      renameSync(tmp, dest);
      ctx.files.rescan(storage);
      ctx.changed();
      t.log(`download of '${req.url}' to '${nodeDest}' finished`);
    } finally {
      rmSync(tmp, { force: true });
    }
  });
}

function decodePid(upid: string): number {
  return parseInt(upid.split(":")[2] ?? "0", 16);
}
