/**
 * The node's outbound HTTP(S) client: what `wget` does for download-url and LWP does for
 * query-url-metadata. Redirects are followed (up to 20, as wget), certificates are verified
 * unless told not to, and failures carry the line wget/LWP would have printed last, because
 * Proxmox puts that line into its error.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import http from "node:http";
import https from "node:https";

export class FetchError extends Error {
  constructor(
    message: string,
    /** Lines wget prints before its last one (they end up in the task log). */
    readonly detail: string[] = [],
  ) {
    super(message);
    this.name = "FetchError";
  }
}

const MAX_REDIRECTS = 20;

function wgetStamp(): string {
  return new Date().toISOString().replace("T", " ").slice(0, 19);
}

function request(method: "GET" | "HEAD", url: URL, verify: boolean): Promise<http.IncomingMessage> {
  const lib = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, rejectUnauthorized: verify, headers: { "User-Agent": "Wget/1.21.3", Accept: "*/*" } }, resolve);
    req.setTimeout(900_000, () => req.destroy(new Error("Read error (Connection timed out)")));
    req.on("error", reject);
    req.end();
  });
}

function connectFailure(url: URL, err: NodeJS.ErrnoException): FetchError {
  const host = url.hostname;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  switch (err.code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new FetchError(`wget: unable to resolve host address '${host}'`);
    case "ECONNREFUSED":
      return new FetchError(`Connecting to ${host} (${host})|${host}|:${port}... failed: Connection refused.`);
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "CERT_HAS_EXPIRED":
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return new FetchError(`To connect to ${host} insecurely, use \`--no-check-certificate'.`, [
        `ERROR: cannot verify ${host}'s certificate: ${err.message}`,
      ]);
    default:
      return new FetchError(`Connecting to ${host}|${host}|:${port}... failed: ${err.message}.`);
  }
}

/** GET/HEAD with redirects; resolves with the final 2xx response or throws a FetchError. */
async function follow(method: "GET" | "HEAD", start: string, verify: boolean, log: (line: string) => void): Promise<{ res: http.IncomingMessage; url: URL }> {
  let url = new URL(start);
  for (let hop = 0; ; hop++) {
    log(`--${wgetStamp()}--  ${url.href}`);
    let res: http.IncomingMessage;
    try {
      res = await request(method, url, verify);
    } catch (err) {
      throw connectFailure(url, err as NodeJS.ErrnoException);
    }
    const status = res.statusCode ?? 0;
    log(`HTTP request sent, awaiting response... ${status} ${res.statusMessage ?? ""}`.trimEnd());
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new FetchError(`${MAX_REDIRECTS} redirections exceeded.`);
      url = new URL(res.headers.location, url);
      log(`Location: ${url.href} [following]`);
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new FetchError(`${wgetStamp()} ERROR ${status}: ${res.statusMessage ?? ""}.`, [], );
    }
    return { res, url };
  }
}

export interface DownloadResult {
  bytes: number;
  /** Hex digest of the downloaded bytes, when an algorithm was asked for. */
  digest?: string;
}

export interface DownloadOptions {
  verify: boolean;
  /** Hash algorithm to compute while writing (md5, sha1, sha224, sha256, sha384, sha512). */
  algorithm?: string;
  /** Called before each chunk is written with the running total; throw to abort (e.g. disk full). */
  beforeWrite?: (total: number) => void;
  log: (line: string) => void;
}

/** Downloads `url` into `file` like `wget --progress=dot:giga -O file url`. */
export async function downloadToFile(url: string, file: string, options: DownloadOptions): Promise<DownloadResult> {
  const { res } = await follow("GET", url, options.verify, options.log);
  const length = res.headers["content-length"];
  options.log(`Length: ${length ?? "unspecified"} [${res.headers["content-type"] ?? "application/octet-stream"}]`);
  options.log(`Saving to: '${file}'`);
  const hash = options.algorithm ? createHash(options.algorithm) : undefined;
  const out = createWriteStream(file);
  const total = Number(length ?? 0);
  const step = 32 * 1024 * 1024;
  let bytes = 0;
  let nextMark = step;
  try {
    for await (const chunk of res) {
      const buf = chunk as Buffer;
      options.beforeWrite?.(bytes + buf.length);
      bytes += buf.length;
      hash?.update(buf);
      if (!out.write(buf)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      while (bytes >= nextMark) {
        const pct = total > 0 ? ` ${Math.min(100, Math.floor((nextMark / total) * 100))}%` : "";
        options.log(`${String(nextMark / 1024).padStart(8)}K ........ ........ ........ ........${pct}`);
        nextMark += step;
      }
    }
  } catch (err) {
    res.destroy();
    await new Promise<void>((resolve) => out.end(() => resolve()));
    if (err instanceof FetchError) throw err;
    throw new FetchError(`${wgetStamp()} (${(err as Error).message}) - Read error at byte ${bytes}/${total || bytes}.`);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  options.log(`${wgetStamp()} - '${file}' saved [${bytes}/${total || bytes}]`);
  return { bytes, digest: hash?.digest("hex") };
}

export interface UrlMetadata {
  filename?: string;
  size?: number;
  mimetype?: string;
}

/** query-url-metadata: a HEAD request; Proxmox dies unless the answer is exactly 200. */
export async function queryUrlMetadata(url: string, verify: boolean): Promise<UrlMetadata> {
  let res: http.IncomingMessage;
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    try {
      res = await request("HEAD", target, verify);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const reason = e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" ? `Can't connect to ${target.host} (Name or service not known)` : `Can't connect to ${target.host} (${e.message})`;
      throw new FetchError(`invalid server response: '500 ${reason}'`);
    }
    res.resume();
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location && hop < 7) {
      target = new URL(res.headers.location, target);
      continue;
    }
    if (status !== 200) throw new FetchError(`invalid server response: '${status} ${res.statusMessage ?? ""}'`);
    break;
  }
  const out: UrlMetadata = {};
  const disposition = res.headers["content-disposition"];
  const fromDisposition = disposition ? (/filename="([^"]*)"/.exec(disposition) ?? /filename=([^;]*)/.exec(disposition))?.[1] : undefined;
  const filename = fromDisposition ?? /^[^?]+\/([^?/]*)(?:\?.*)?$/.exec(url)?.[1];
  if (filename) out.filename = filename;
  const size = Number(res.headers["content-length"] ?? 0);
  if (size) out.size = size;
  const type = res.headers["content-type"];
  if (type) out.mimetype = /^([^;]+);/.exec(type)?.[1] ?? type;
  return out;
}
