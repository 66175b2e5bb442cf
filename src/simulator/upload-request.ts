/**
 * How the API front takes an upload request apart, after pve-http-server's
 * authenticate_and_handle_request: with a Content-Length, the body must be
 * `multipart/form-data` with a boundary and the query must not name `tmpfilename` (Proxmox
 * then dies without answering at all: the request is dropped); the body is streamed into a
 * temporary file (multipart-upload.ts) and the handler gets the query parameters, the form
 * fields, `filename` and `tmpfilename`. Without a Content-Length there is no upload: the
 * handler sees the query parameters alone.
 */
import type { IncomingMessage } from "node:http";
import { multipartBoundary, receiveMultipart } from "./multipart-upload.js";
import type { StorageFiles } from "./storage-files.js";
import { newUploadTempFile } from "./uploads.js";

/** Proxmox answers nothing to this request (it only logs the error); the connection is dropped. */
export class DroppedRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DroppedRequest";
  }
}

export interface UploadParams {
  params: Record<string, string>;
  /** The temporary file this request created (host path), for cleanup when the handler refuses. */
  tmpHostPath?: string;
}

export async function receiveUploadParams(req: IncomingMessage, url: URL, files: StorageFiles, maxFileBytes: number): Promise<UploadParams> {
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const length = Number(req.headers["content-length"] ?? 0);
  if (!length) return { params };
  const contentType = req.headers["content-type"];
  const { type, boundary } = multipartBoundary(contentType);
  if (!boundary || type !== "multipart/form-data") throw new DroppedRequest(`upload 'Content-Type '${contentType ?? ""}' not implemented`);
  if (Object.hasOwn(params, "tmpfilename")) throw new DroppedRequest("'tmpfilename' query parameter is not allowed for file uploads");
  const tmp = newUploadTempFile(files);
  const received = await receiveMultipart(req, boundary, tmp.hostPath, { maxFileBytes });
  return { params: { ...params, ...received.fields, filename: received.filename, tmpfilename: tmp.nodePath }, tmpHostPath: tmp.hostPath };
}
