/**
 * The HTTPS front of the simulator: `/api2/json/...` with Proxmox's envelope (`{"data": ...}`),
 * status lines and error bodies, authentication by API token
 * (`Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`) or by login ticket (`PVEAuthCookie`
 * cookie, plus the `CSRFPreventionToken` header on writes), URL-decoded path segments,
 * form-encoded or JSON bodies, fault injection, call recording, and loud 501s for routes the
 * simulator does not implement. `/_sim/...` is the inspection and fault API for tests.
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { rmSync } from "node:fs";
import { tokenOwner, userUsable } from "./access.js";
import type { SimContext } from "./context.js";
import { PropertyStringError } from "./config-strings.js";
import { ProxyError, PveError } from "./errors.js";
import { connectionResetDue } from "./faults.js";
import type { Router } from "./router.js";
import { sleep } from "./tasks.js";
import { UploadError } from "./multipart-upload.js";
import { DroppedRequest, receiveUploadParams } from "./upload-request.js";
import { checkUploadPermission } from "./uploads.js";

export interface SimApi {
  /** Handles /_sim/<name>; returns the JSON answer or throws PveError. */
  handle(method: string, name: string, body: unknown): Promise<unknown> | unknown;
}

export interface ServerDeps {
  ctx: () => SimContext;
  router: Router;
  sim: SimApi;
  key: string;
  cert: string;
  log: (line: string) => void;
}

const MAX_BODY = 4 * 1024 * 1024;
/** The one path whose body pve-http-server receives as a file upload. */
const UPLOAD_API_PATH = /^\/api2\/json\/nodes\/[^/]+\/storage\/[^/]+\/upload$/;

function statusText(message: string): string {
  const first = message.split("\n")[0] ?? "";
  return first.replace(/[^\x20-\x7e]/g, "?").slice(0, 500) || "error";
}

function send(res: ServerResponse, status: number, message: string, body: unknown | undefined): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  res.statusCode = status;
  res.statusMessage = statusText(message);
  res.setHeader("Content-Type", "application/json;charset=UTF-8");
  res.setHeader("Content-Length", Buffer.byteLength(payload));
  res.setHeader("Cache-Control", "max-age=0");
  res.setHeader("Pragma", "no-cache");
  res.setHeader("Server", "pve-api-daemon/3.0");
  res.end(payload);
}

function sendError(res: ServerResponse, err: unknown): number {
  if (err instanceof UploadError) {
    // pve-http-server's error(): the message is status line and plain-text body.
    const text = `${err.message}\n`;
    res.statusCode = 500;
    res.statusMessage = statusText(err.message);
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.setHeader("Server", "pve-api-daemon/3.0");
    res.end(text);
    return 500;
  }
  if (err instanceof ProxyError) {
    send(res, err.status, err.message, undefined);
    return err.status;
  }
  if (err instanceof PveError) {
    const body: Record<string, unknown> = { data: null, message: `${err.message}\n` };
    if (err.errors) body.errors = err.errors;
    send(res, err.status, err.message, body);
    return err.status;
  }
  const message = err instanceof PropertyStringError ? err.message : err instanceof Error ? err.message : String(err);
  send(res, 500, message, { data: null, message: `${message}\n` });
  return 500;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new PveError(413, "request too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function stringify(value: unknown): string {
  if (typeof value === "boolean") return value ? "1" : "0";
  if (Array.isArray(value)) return value.map(stringify).join(",");
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function parseParams(url: URL, contentType: string | undefined, body: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  if (body.trim() === "") return params;
  if ((contentType ?? "").includes("application/json")) {
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      throw new PveError(400, "Parameter verification failed.", { body: "unable to parse JSON request body" });
    }
    if (data && typeof data === "object" && !Array.isArray(data)) {
      for (const [k, v] of Object.entries(data)) if (v !== null && v !== undefined) params[k] = stringify(v);
    }
  } else {
    // A repeated key is an array parameter (e.g. a mapping's `map`); its values are kept one per line.
    for (const [k, v] of new URLSearchParams(body)) params[k] = Object.hasOwn(params, k) ? `${params[k]}\n${v}` : v;
  }
  return params;
}

/** PVE::APIServer's extract_auth_value: `key=value` (or `key value`) in a header, URI-decoded. */
function authValue(header: string | undefined, key: string): string | undefined {
  if (!header) return undefined;
  const raw = new RegExp(`(?:^|\\s)${key}(?:=| )([^;]*)`).exec(header)?.[1];
  if (!raw) return undefined;
  try {
    return decodeURIComponent(raw.trim());
  } catch {
    return "";
  }
}

/** The token id if the value is a valid API token of an enabled user; null if invalid. */
function verifyToken(ctx: SimContext, value: string): string | null {
  const m = /^(.*)=(.*)$/.exec(value);
  if (!m) return null;
  const [, id, secret] = m as unknown as [string, string, string];
  const token = ctx.state.tokens.find((t) => t.id === id);
  if (!token || !userUsable(ctx.state.users[tokenOwner(id)], Date.now() / 1000)) return null;
  const a = Buffer.from(token.secret);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b) ? id : null;
}

interface Caller {
  /** Token id or user id; undefined: no credentials; null: credentials that do not check out. */
  user: string | undefined | null;
  /** Authenticated by ticket (CSRF checks apply) rather than by API token. */
  byTicket: boolean;
}

/** pve-manager's auth_handler: an API token in Authorization wins, else the PVEAuthCookie ticket. */
function authenticate(ctx: SimContext, headers: IncomingMessage["headers"]): Caller {
  const token = authValue(headers.authorization, "PVEAPIToken");
  if (token !== undefined) return { user: verifyToken(ctx, token), byTicket: false };
  const ticket = authValue(headers.cookie, "PVEAuthCookie");
  if (ticket === undefined) return { user: undefined, byTicket: false };
  const user = ctx.tickets.verifyTicket(ticket);
  return { user: user && userUsable(ctx.state.users[user], Date.now() / 1000) ? user : null, byTicket: true };
}

/** The calls Proxmox answers without authentication. */
function isPublic(method: string, relPath: string): boolean {
  return (
    (relPath === "/access/domains" && method === "GET") ||
    (relPath === "/access/ticket" && (method === "GET" || method === "POST"))
  );
}

export function createServer(deps: ServerDeps): https.Server {
  const server = https.createServer({ key: deps.key, cert: deps.cert, minVersion: "TLSv1.2" }, (req, res) => {
    void handle(deps, req, res).catch((err) => {
      deps.log(`[pve-sim] internal error: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) sendError(res, err);
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}

async function handle(deps: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = Date.now();
  const method = (req.method ?? "GET").toUpperCase();
  const url = new URL(req.url ?? "/", "https://pve-sim");
  const ctx = deps.ctx();
  const done = (status: number, note = "") =>
    deps.log(`[pve-sim] ${status} ${method} ${url.pathname} ${Date.now() - started}ms${note ? ` - ${note}` : ""}`);

  // An upload's body is streamed into a file after authentication (pve-http-server).
  const isUpload = method === "POST" && UPLOAD_API_PATH.test(url.pathname);
  let body = "";
  if (!isUpload) {
    try {
      body = await readBody(req);
    } catch (err) {
      done(sendError(res, err));
      return;
    }
  }

  const caller = authenticate(ctx, req.headers);

  if (url.pathname.startsWith("/_sim/")) {
    if (!caller.user || caller.byTicket) {
      send(res, 401, caller.user === undefined ? "No ticket" : "Authentication failed!", undefined);
      done(401);
      return;
    }
    try {
      let data: unknown = undefined;
      if (body.trim() !== "") {
        try {
          data = JSON.parse(body);
        } catch {
          throw new PveError(400, "request body must be JSON");
        }
      }
      const out = await deps.sim.handle(method, url.pathname.slice("/_sim/".length).replace(/\/+$/, ""), data);
      send(res, 200, "OK", { data: out ?? null });
      done(200);
    } catch (err) {
      done(sendError(res, err));
    }
    return;
  }

  if (!url.pathname.startsWith("/api2/json/") && url.pathname !== "/api2/json") {
    send(res, 501, "no such uri", undefined);
    done(501);
    return;
  }

  let segments: string[];
  try {
    segments = url.pathname
      .slice("/api2/json".length)
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    send(res, 400, "Bad Request", { data: null });
    done(400);
    return;
  }
  const relPath = `/${segments.join("/")}`;
  const match = deps.router.match(method, segments);
  // Recorded before authentication: a client whose login the simulator cannot serve still shows up.
  if (!match) ctx.unknownRoutes.push({ method, path: relPath, at: new Date().toISOString(), authenticated: !!caller.user });

  const needsAuth = !isPublic(method, relPath);
  if (needsAuth && !caller.user) {
    // Proxmox delays every unauthorized answer (3 s) and sends no body.
    if (ctx.behaviour.unauthorizedDelayMs > 0) await sleep(ctx.behaviour.unauthorizedDelayMs);
    send(res, 401, caller.user === null ? "Authentication failed!" : "No ticket", undefined);
    done(401);
    return;
  }
  // CSRF protection applies to ticket sessions only (not API tokens, not uploads).
  if (needsAuth && caller.byTicket && method !== "GET" && !isUpload) {
    const csrf = req.headers.csrfpreventiontoken;
    if (!ctx.tickets.verifyCsrfToken(caller.user as string, Array.isArray(csrf) ? csrf[0] : csrf)) {
      send(res, 401, "Permission denied - invalid csrf token", { data: null, message: "Permission denied - invalid csrf token\n" });
      done(401);
      return;
    }
  }

  if (isUpload) {
    // pve-manager's auth_handler checks the upload permission before it reads the body.
    try {
      checkUploadPermission(ctx.state, caller.user as string, segments[3] as string);
    } catch (err) {
      if (ctx.behaviour.unauthorizedDelayMs > 0) await sleep(ctx.behaviour.unauthorizedDelayMs);
      send(res, (err as PveError).status, (err as PveError).message, undefined);
      done((err as PveError).status);
      return;
    }
  }

  if (ctx.faults.latencyMs > 0) {
    ctx.injectedFaults.record("delayedRequests");
    await sleep(ctx.faults.latencyMs);
  }

  if (!match) {
    deps.log(
      `[pve-sim] !!!!! UNKNOWN ROUTE: ${method} ${relPath} is not implemented by the simulator (answered 501); ` +
        `tests treat this as a failure - add the endpoint or fix the client`,
    );
    const message = `Method '${method} ${relPath}' not implemented`;
    send(res, 501, message, { data: null, message: `${message}\n` });
    done(501);
    return;
  }
  ctx.recordCall(method, match.template, req.headers["user-agent"]);

  if (ctx.faults.http500Rate > 0 && ctx.random() < ctx.faults.http500Rate) {
    ctx.injectedFaults.record("http500");
    const message = "simulated internal server error (fault injection)";
    send(res, 500, message, { data: null, message: `${message}\n` });
    done(500, "fault injection");
    return;
  }

  // A connection reset (fault injection): the socket goes away without an answer, as when a
  // proxy or the node drops it; after handling, the request took effect all the same.
  const resetConnection = (): void => {
    ctx.injectedFaults.record("connectionResets");
    req.socket.destroy();
    done(0, "connection reset (fault injection)");
  };
  if (connectionResetDue(ctx.faults, method, match.template, false)) return resetConnection();

  let uploadTmp: string | undefined;
  try {
    let params: Record<string, string>;
    if (isUpload) {
      const upload = await receiveUploadParams(req, url, ctx.files, ctx.uploadTmpBytes);
      params = upload.params;
      uploadTmp = upload.tmpHostPath;
    } else params = parseParams(url, req.headers["content-type"], body);
    const data = await match.handler({ ctx, method, path: match.path, params, user: caller.user ?? "" });
    if (connectionResetDue(ctx.faults, method, match.template, true)) return resetConnection();
    send(res, 200, "OK", { data: data === undefined ? null : data });
    done(200);
  } catch (err) {
    // The upload's worker owns its temporary file; a refused upload leaves none behind.
    if (uploadTmp) rmSync(uploadTmp, { force: true });
    if (err instanceof DroppedRequest) {
      req.socket.destroy();
      done(0, `dropped: ${err.message}`);
      return;
    }
    // Every 401 is delayed, a failed login included.
    if (err instanceof PveError && err.status === 401 && ctx.behaviour.unauthorizedDelayMs > 0) await sleep(ctx.behaviour.unauthorizedDelayMs);
    const status = sendError(res, err);
    done(status, err instanceof Error ? statusText(err.message) : "");
  }
}
