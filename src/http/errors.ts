import type { ErrorRequestHandler, RequestHandler } from "express";
import type { Logger } from "pino";

/** An error with an HTTP status and a message that is safe to show (it names no secret). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string) => new HttpError(400, "BadRequest", message);
export const notFound = (message: string) => new HttpError(404, "NotFound", message);
export const conflict = (message: string) => new HttpError(409, "Conflict", message);

/** The body of every error answer: `{ "error": { "code": "...", "message": "..." } }`. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(errorBody("NotFound", `no such endpoint: ${req.method} ${req.baseUrl}${req.path}`));
};

/**
 * Known errors keep their status and message; anything else is a 500 whose details go to the log
 * only (an error message may name a host, a user or a query).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    let status = 500;
    let code = "InternalError";
    let message = "internal error (see the sidecar's log)";
    const e = error as { status?: unknown; type?: unknown } | undefined;
    if (error instanceof HttpError) {
      ({ status, code, message } = error);
    } else if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
      // body-parser and friends: a malformed request.
      status = e.status;
      code = "BadRequest";
      message = typeof e.type === "string" ? `malformed request (${e.type})` : "malformed request";
    } else {
      logger.error({ err: error, method: req.method, path: req.path }, "request failed");
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(errorBody(code, message));
  };
}
