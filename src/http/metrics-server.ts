import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Metrics } from "../telemetry/metrics.js";
import { tokenMatches } from "./security.js";
import { createLimitedServer } from "./server-limits.js";

/** A scrape is one small GET: anything slower or more numerous is not Prometheus. */
const METRICS_SERVER_LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 256 };

export interface MetricsServerOptions {
  metrics: Metrics;
  port: number;
  host: string;
  logger: Logger;
  /** PTM_SIDECAR_READ_TOKEN: when set, /metrics needs it (as on the sidecar). */
  readToken?: string;
}

/**
 * /metrics and /healthz on a port of their own (PTM_METRICS_PORT), for controller and worker
 * processes that run without the sidecar. Plain node:http: two endpoints need no framework.
 */
export class MetricsServer {
  private server: Server | undefined;
  url: string | undefined;

  constructor(private readonly o: MetricsServerOptions) {}

  async start(): Promise<void> {
    const server = createLimitedServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      res.setHeader("X-Content-Type-Options", "nosniff");
      res.setHeader("Cache-Control", "no-store");
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD" }).end();
        return;
      }
      if (path === "/healthz") {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ status: "ok" }));
        return;
      }
      if (path !== "/metrics") {
        res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ error: { code: "NotFound", message: "try /metrics or /healthz" } }));
        return;
      }
      if (this.o.readToken && !tokenMatches(bearer(req), this.o.readToken)) {
        res.writeHead(401, { "Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="proxmox-terraform-manager"' });
        res.end(JSON.stringify({ error: { code: "Unauthorized", message: "this endpoint needs a bearer token" } }));
        return;
      }
      this.o.metrics.text().then(
        (text) => res.writeHead(200, { "Content-Type": this.o.metrics.contentType }).end(text),
        (error: unknown) => {
          this.o.logger.warn({ err: error }, "could not collect metrics");
          res.writeHead(500).end();
        },
      );
    }, METRICS_SERVER_LIMITS);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.url = `http://${address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.address}:${address.port}`;
    this.o.logger.info({ url: this.url }, "metrics endpoint listening");
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "");
  return m?.[1];
}
