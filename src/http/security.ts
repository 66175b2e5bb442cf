import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler } from "express";
import { errorBody } from "./errors.js";

/** Only the sidecar's own origin: no inline script or style, no frames, no plugins. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Standard security headers on every answer (set by hand: no dependency for six headers), and
 * `Cache-Control: no-store` on everything that is not a static file. No CORS headers are ever
 * sent, so browsers keep other origins from reading the API.
 */
export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    if (isDynamicPath(req.path)) res.setHeader("Cache-Control", "no-store");
    next();
  };
}

/**
 * Paths answered by code rather than by a static file. Express matches routes ignoring case and
 * a trailing slash (`/API/V1/vms/`), so the same must hold here or such a spelling is cacheable.
 */
export function isDynamicPath(path: string): boolean {
  const p = path.toLowerCase().replace(/\/+$/, "");
  return p === "/api" || p.startsWith("/api/") || p === "/metrics" || p === "/healthz" || p === "/readyz";
}

/** Compares a presented token with the configured one in constant time (hashes have equal length). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The bearer token of `Authorization: Bearer <token>`, or (only where allowed) `?access_token=`. */
export function presentedToken(req: Request, allowQuery: boolean): string | undefined {
  const header = req.get("authorization");
  if (header !== undefined) {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
    return m ? m[1] : undefined;
  }
  if (allowQuery && typeof req.query.access_token === "string") return req.query.access_token;
  return undefined;
}

export interface AuthOptions {
  /** PTM_SIDECAR_READ_TOKEN: when set, reads need it (or the admin token). */
  readToken?: string;
  /** PTM_SIDECAR_ADMIN_TOKEN: changes always need it; without it nothing can be changed. */
  adminToken?: string;
}

/**
 * Read access: open unless a read token is set; then the read or the admin token. EventSource
 * cannot send headers, so the SSE endpoint also accepts the read token as `?access_token=`;
 * the admin token is refused there (and in any URL).
 */
export function requireRead(o: AuthOptions, options: { allowQueryToken?: boolean } = {}): RequestHandler {
  return (req, res, next) => {
    const inQuery = typeof req.query.access_token === "string" ? req.query.access_token : undefined;
    // URLs end up in proxy and browser logs: the token that can change things must never be in one.
    if (inQuery !== undefined && o.adminToken !== undefined && tokenMatches(inQuery, o.adminToken)) {
      res.status(400).json(errorBody("BadRequest", "the admin token is not accepted in a URL (it would end up in access logs): use the read token in ?access_token=, or the Authorization header"));
      return;
    }
    if (!o.readToken) return next();
    const token = presentedToken(req, options.allowQueryToken ?? false);
    if (tokenMatches(token, o.readToken) || (o.adminToken !== undefined && tokenMatches(token, o.adminToken))) return next();
    unauthorized(res, token === undefined ? "this endpoint needs a bearer token (Authorization: Bearer <token>)" : "the bearer token is not valid");
  };
}

/** Changes: always the admin token; with no admin token configured, changes are disabled. */
export function requireAdmin(o: AuthOptions): RequestHandler {
  return (req, res, next) => {
    const token = presentedToken(req, false);
    if (!o.adminToken) {
      res.status(403).json(errorBody("Forbidden", "changes through the sidecar are disabled: set PTM_SIDECAR_ADMIN_TOKEN to enable them"));
      return;
    }
    if (token === undefined) return unauthorized(res, "this endpoint needs the admin bearer token (Authorization: Bearer <token>)");
    if (tokenMatches(token, o.adminToken)) return next();
    if (o.readToken !== undefined && tokenMatches(token, o.readToken)) {
      res.status(403).json(errorBody("Forbidden", "the read token cannot change anything; use the admin token"));
      return;
    }
    unauthorized(res, "the bearer token is not valid");
  };
}

function unauthorized(res: Parameters<RequestHandler>[1], message: string): void {
  res.setHeader("WWW-Authenticate", 'Bearer realm="proxmox-terraform-manager"');
  res.status(401).json(errorBody("Unauthorized", message));
}
