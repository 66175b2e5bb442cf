/**
 * POST /nodes/{node}/storage/{storage}/upload after pve-storage's API2/Storage/Status.pm
 * `upload`: the HTTP front (server.ts + multipart-upload.ts) has put the file into a temporary
 * file (`/var/tmp/pveupload-<md5>` as the node sees it) and passes its name as `tmpfilename`;
 * this module makes the handler's checks and runs the `imgcopy` task that verifies the checksum,
 * refuses untrusted images, copies the file into the storage's content directory (overwriting
 * a file of the same name, as Proxmox does) and removes the temporary file.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { SimContext } from "./context.js";
import { fail } from "./errors.js";
import { isOffline } from "./node-reachability.js";
import { checkPrivileges } from "./permissions.js";
import { requireStorage, usedBytes, type ClusterState } from "./state.js";
import { checkTransferFilename, CONTENT_SUBDIRS, normalizeContentFilename, type FileContentType } from "./storage-content.js";
import type { StorageFiles } from "./storage-files.js";
import { storagePath } from "./storage-files.js";
import { assertUntrustedImage } from "./untrusted-image.js";

const execFileAsync = promisify(execFile);

/** The one API path pve-http-server receives as a file upload (pve-manager's auth_handler). */
export const UPLOAD_PATH = /^\/nodes\/([^/]+)\/storage\/([^/]+)\/upload$/;

const NODE_TMP_DIR = "/var/tmp";
const TMPFILENAME = /^\/var\/tmp\/pveupload-[0-9a-f]+$/;

export interface UploadRequest {
  node: string;
  storage: string;
  content: string;
  filename: string;
  checksum?: string;
  algorithm?: string;
  /** The temporary file as the node sees it; absent when the request carried no body. */
  tmpfilename?: string;
}

/**
 * The check pve-manager's auth_handler makes before it reads an upload's body (CSRF checks are
 * skipped for uploads, so the permission is checked early): Datastore.AllocateTemplate on the
 * storage. Throws the 403.
 */
export function checkUploadPermission(state: ClusterState, user: string, storage: string): void {
  checkPrivileges(state, user, `/storage/${storage}`, ["Datastore.AllocateTemplate"]);
}

/** The node's /var/tmp inside the simulator's data directory (cleared with it on reset). */
function tmpDir(files: StorageFiles): string {
  return path.join(files.root, ".var-tmp");
}

/** A fresh temporary upload file: get_upload_filename's unpredictable name. */
export function newUploadTempFile(files: StorageFiles): { nodePath: string; hostPath: string } {
  const dir = tmpDir(files);
  mkdirSync(dir, { recursive: true });
  const name = `pveupload-${createHash("md5").update(randomBytes(16)).digest("hex")}`;
  return { nodePath: `${NODE_TMP_DIR}/${name}`, hostPath: path.join(dir, name) };
}

/** The host path of a temporary upload file named as the node sees it. */
export function uploadTempHostPath(files: StorageFiles, nodePath: string): string | undefined {
  if (!TMPFILENAME.test(nodePath)) return undefined;
  return path.join(tmpDir(files), path.posix.basename(nodePath));
}

async function fileDigest(file: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** assert_ova_contents: `tar -t -f` must list an .ovf file (the host's GNU tar reads it). */
async function assertOvaContents(hostFile: string, nodeFile: string, log: (line: string) => void): Promise<void> {
  let listing: string;
  try {
    listing = (await execFileAsync("tar", ["-t", "-f", hostFile], { maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: number };
    for (const line of (e.stderr ?? "").split("\n").filter(Boolean)) log(line.replaceAll(hostFile, nodeFile));
    throw new Error(`command 'tar -t -f ${nodeFile}' failed: exit code ${typeof e.code === "number" ? e.code : 2}`);
  }
  if (!listing.split("\n").some((line) => /\.ovf$/.test(line))) throw new Error("ova archive has no .ovf file inside");
}

/**
 * The handler's checks before it forks; then the `imgcopy` worker, which owns the temporary
 * file from then on. (When the handler refuses, Proxmox leaves the file in /var/tmp; the
 * simulator's front removes it.)
 */
export function startUpload(ctx: SimContext, req: UploadRequest, user: string) {
  const hostTmp = req.tmpfilename ? uploadTempHostPath(ctx.files, req.tmpfilename) : undefined;
  const storage = requireStorage(ctx.state, req.storage, req.node);
  const base = storagePath(storage);
  if (!base) throw fail(`can't upload to storage type '${storage.type}'`);
  const tmpfilename = req.tmpfilename;
  if (!tmpfilename) throw fail("missing temporary file name");
  if (!hostTmp || !existsSync(hostTmp)) throw fail(`temporary file '${tmpfilename}' does not exist`);
  const size = statSync(hostTmp).size;
  const filename = normalizeContentFilename(req.filename);
  const imageFormat = checkTransferFilename(req.content, filename, { otherContent: "upload content type '%s' not allowed" });
  const isOva = req.content === "import" && filename.endsWith(".ova");
  if (!storage.content.includes(req.content)) throw fail(`storage '${req.storage}' does not support '${req.content}' content`);
  const node = ctx.requireNode(req.node);
  if (isOffline(node)) {
    throw fail(`can't activate storage '${req.storage}' on node '${req.node}': command '/usr/bin/ssh -e none -o BatchMode=yes -o HostKeyAlias=${req.node} -- /usr/sbin/pvesm status --storage ${req.storage}' failed: exit code 255`);
  }
  const content = req.content as FileContentType;
  const dest = `${base}/${CONTENT_SUBDIRS[content]}/${filename}`;

  return ctx.tasks.start(req.node, "imgcopy", "", user, async (t) => {
    t.log(`starting file import from: ${tmpfilename}`);
    try {
      if (req.algorithm && req.checksum !== undefined) {
        const got = await fileDigest(hostTmp, req.algorithm);
        if (got.toLowerCase() === req.checksum.toLowerCase()) t.log("calculating checksum...OK, checksum verified");
        else {
          t.log("calculating checksum...");
          throw new Error(`checksum mismatch: got '${got}' != expect '${req.checksum}'`);
        }
      }
      if (content === "iso") assertUntrustedImage(hostTmp, tmpfilename, undefined);
      if (isOva) await assertOvaContents(hostTmp, tmpfilename, (line) => t.log(line));
      else if (imageFormat) assertUntrustedImage(hostTmp, tmpfilename, imageFormat);
    } catch (err) {
      rmSync(hostTmp, { force: true });
      throw err;
    }
    t.log(`target node: ${req.node}`);
    t.log(`target file: ${dest}`);
    t.log(`file size is: ${size}`);
    t.log(`command: cp -- ${tmpfilename} ${dest}`);
    const hostDest = path.join(ctx.files.ensureContentDir(storage.id, content), filename);
    try {
      await t.work();
      ctx.files.rescan(storage);
      const replaced = existsSync(hostDest) ? statSync(hostDest).size : 0;
      const free = storage.total - usedBytes(storage) + replaced;
      if (size > free) {
        rmSync(hostDest, { force: true });
        throw new Error(`import failed: cp: error writing '${dest}': No space left on device`);
      }
      renameSync(hostTmp, hostDest);
    } finally {
      rmSync(hostTmp, { force: true });
      ctx.files.rescan(storage);
      ctx.changed();
    }
    t.log("finished file import successfully");
  });
}
