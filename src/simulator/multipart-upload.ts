/**
 * The request body of `POST /nodes/{node}/storage/{storage}/upload`, received the way
 * pve-http-server's file_upload_multipart does (PVE/APIServer/AnyEvent.pm): a streaming parse of
 * `multipart/form-data` that takes the form fields `content`, `checksum-algorithm` and
 * `checksum`, then one file part named `filename`, whose bytes go straight into a temporary file
 * (`/var/tmp/pveupload-<md5>` on a node). Proxmox's rules carry over:
 *
 * - everything before the first `--boundary` line is ignored;
 * - each part needs `Content-Disposition: form-data; name="…"` (exact spelling), else
 *   "wrong Content-Disposition '…' in multipart, expected 'form-data'";
 * - the file part must be named `filename` ("wrong field name '…' for file upload, expected
 *   'filename'"); its `filename="…"` attribute becomes the `filename` parameter;
 * - the file's data runs up to the closing `--boundary--` (one newline before it dropped);
 *   whatever follows is ignored;
 * - a body that ends before the closing delimiter is "upload failed".
 *
 * Proxmox waits forever on a form field it does not know (its parser only ever looks for the
 * three names); the simulator fails such a body with "upload failed" at once. The temporary
 * file is limited in size (the node's /var/tmp), part headers and field values in length.
 */
import { open, rm, type FileHandle } from "node:fs/promises";

/** A body the parser refuses; Proxmox answers 500 with this text as status line and body. */
export class UploadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UploadError";
  }
}

export interface UploadLimits {
  /** Largest file the temporary directory takes; beyond it the write fails as a full disk does. */
  maxFileBytes: number;
}

export interface ReceivedUpload {
  /** The form fields before the file (`content`, `checksum-algorithm`, `checksum`), trimmed. */
  fields: Record<string, string>;
  /** The file part's `filename` attribute, trimmed. */
  filename: string;
  /** Bytes written to the temporary file. */
  bytes: number;
}

/** The form fields pve-http-server takes from an upload body, in the order it looks for them. */
export const UPLOAD_FIELDS = ["content", "checksum-algorithm", "checksum"] as const;

const MAX_FIELD_BYTES = 4096;
const DISPOSITION = /^Content-Disposition: (.*?); name="(.*?)"(?:; filename="([^"]+)")?/m;

/** The `boundary` of a `multipart/form-data` Content-Type, as parse_content_type reads it. */
export function multipartBoundary(contentType: string | undefined): { type: string; boundary?: string } {
  const [type = "", ...params] = (contentType ?? "").split(/\s*[;,]\s*/);
  for (const p of params) {
    const m = /^\s*boundary\s*=\s*(\S+?)\s*$/.exec(p);
    if (m) return { type, boundary: m[1] as string };
  }
  return { type };
}

/** Index of the next `--boundary` followed by a newline at or after `from`; -1 if none yet. */
function findDelimiter(buf: Buffer, delim: Buffer, from = 0): { at: number; end: number } | { at: -1; end: -1 } {
  let at = buf.indexOf(delim, from);
  while (at !== -1) {
    const after = at + delim.length;
    if (buf[after] === 0x0a) return { at, end: after + 1 };
    if (buf[after] === 0x0d && buf[after + 1] === 0x0a) return { at, end: after + 2 };
    if (after + 2 > buf.length) return { at: -1, end: -1 }; // the newline may still come
    at = buf.indexOf(delim, at + 1);
  }
  return { at: -1, end: -1 };
}

/** Where a part's headers end (`\r?\n\r?\n`), searching from `from`; -1 if not yet. */
function headerEnd(buf: Buffer, from: number): { at: number; end: number } | undefined {
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    let j = i + 1;
    if (buf[j] === 0x0d) j++;
    if (buf[j] === 0x0a) return { at: i, end: j + 1 };
  }
  return undefined;
}

/** Drops one newline (`\n` or `\r\n`) at the end of `buf`, as `\015?\012` before a delimiter. */
function withoutTrailingNewline(buf: Buffer): Buffer {
  if (buf.length >= 2 && buf[buf.length - 2] === 0x0d && buf[buf.length - 1] === 0x0a) return buf.subarray(0, -2);
  if (buf.length >= 1 && buf[buf.length - 1] === 0x0a) return buf.subarray(0, -1);
  return buf;
}

/**
 * Reads a multipart body into `tmpFile` (created exclusively, mode 0600). Throws UploadError
 * for a body Proxmox refuses; the temporary file is removed then.
 */
export async function receiveMultipart(body: AsyncIterable<Buffer>, boundary: string, tmpFile: string, limits: UploadLimits): Promise<ReceivedUpload> {
  const delim = Buffer.from(`--${boundary}`);
  const close = Buffer.from(`--${boundary}--`);
  // Bytes held back from the file so a closing delimiter split across reads is still found.
  const holdBack = boundary.length + 8;
  const maxHeader = 2048 + holdBack;
  const fields: Record<string, string> = {};
  let filename: string | undefined;
  let phase = "preamble" as "preamble" | "fields" | "file" | "done";
  let buf: Buffer = Buffer.alloc(0);
  let bytes = 0;
  let out: FileHandle | undefined;

  const write = async (data: Buffer) => {
    if (data.length === 0) return;
    if (bytes + data.length > limits.maxFileBytes) throw new UploadError("write to temporary file failed - No space left on device");
    await (out as FileHandle).write(data);
    bytes += data.length;
  };

  /** Consumes what `buf` holds; returns when it needs more input. */
  const step = async (): Promise<void> => {
    for (;;) {
      if (phase === "preamble") {
        const d = findDelimiter(buf, delim);
        if (d.at === -1) {
          if (buf.length > delim.length + 2) buf = buf.subarray(buf.length - (delim.length + 2));
          return;
        }
        buf = buf.subarray(d.at);
        phase = "fields";
        continue;
      }
      if (phase === "fields") {
        const d = findDelimiter(buf, delim);
        if (d.at !== 0) {
          // Not a part start: the closing delimiter (no file came) or garbage; Proxmox never
          // matches either and fails when the body ends.
          if (buf.length >= delim.length + 2) throw new UploadError("upload failed");
          return;
        }
        const h = headerEnd(buf, d.end - 1);
        if (!h) {
          if (buf.length > maxHeader) throw new UploadError("upload failed");
          return;
        }
        const headers = buf.subarray(d.end, h.at).toString("latin1");
        const m = DISPOSITION.exec(headers);
        if (!m) throw new UploadError("upload failed");
        const [, disposition, name, file] = m as unknown as [string, string, string, string | undefined];
        if (disposition !== "form-data") throw new UploadError(`wrong Content-Disposition '${disposition}' in multipart, expected 'form-data'`);
        if (file !== undefined) {
          if (name !== "filename") throw new UploadError(`wrong field name '${name}' for file upload, expected 'filename'`);
          filename = file.trim();
          buf = buf.subarray(h.end);
          phase = "file";
          continue;
        }
        if (!(UPLOAD_FIELDS as readonly string[]).includes(name)) throw new UploadError("upload failed");
        const next = findDelimiter(buf, delim, h.end);
        if (next.at === -1) {
          if (buf.length - h.end > MAX_FIELD_BYTES) throw new UploadError("upload failed");
          return;
        }
        fields[name] = buf.subarray(h.end, next.at).toString("utf8").trim();
        buf = buf.subarray(next.at);
        continue;
      }
      if (phase === "file") {
        const at = buf.indexOf(close);
        if (at !== -1) {
          await write(withoutTrailingNewline(buf.subarray(0, at)));
          buf = Buffer.alloc(0);
          phase = "done";
          return;
        }
        if (buf.length > holdBack) {
          await write(buf.subarray(0, buf.length - holdBack));
          buf = buf.subarray(buf.length - holdBack);
        }
        return;
      }
      return; // done: the rest of the body is ignored
    }
  };

  try {
    out = await open(tmpFile, "wx", 0o600);
    for await (const chunk of body) {
      if (phase === "done") continue;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      await step();
    }
    if (phase !== "done" || filename === undefined) throw new UploadError("upload failed");
    await out.close();
    out = undefined;
    return { fields, filename, bytes };
  } catch (err) {
    await out?.close().catch(() => {});
    out = undefined;
    await rm(tmpFile, { force: true });
    throw err;
  }
}
