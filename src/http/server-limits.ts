import { createServer, type RequestListener, type Server } from "node:http";

/**
 * Limits that keep one client from holding the sidecar's sockets: a client that trickles its
 * headers or its body is answered 408 and dropped, and connections beyond `maxConnections` are
 * refused at accept. SSE streams are long, but their request is complete once answered, so
 * `requestTimeout` does not cut them (their own limit is the stream lifetime).
 */
export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

export function createLimitedServer(handler: RequestListener, limits: ServerLimits): Server {
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks both timeouts on this interval (default 30 s): keep it finer than the limits.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 2))),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  return server;
}
