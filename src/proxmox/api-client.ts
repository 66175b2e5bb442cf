import { createHash } from "node:crypto";
import https from "node:https";
import { Redactor } from "../terraform/redact.js";
import { vmConfigSummary, type VmConfigSummary } from "./vm-config-summary.js";

export type { VmConfigSummary, VmDisk } from "./vm-config-summary.js";

/** Bounds on what a Proxmox (or a server posing as one) can put into a condition message. */
const MAX_ERROR_MESSAGE = 600;
const MAX_ERROR_FIELD = 200;
const MAX_ERROR_FIELDS = 8;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export interface ProxmoxApiOptions {
  endpoint: string;
  apiToken: string;
  insecureSkipTLSVerify?: boolean;
  caBundle?: string;
  timeoutMs?: number;
}

/**
 * Agents shared by every client with the same TLS settings: clients are made per call (per
 * connection check, per preflight), so an agent per client would keep nothing alive. Keyed by the
 * verification setting and the CA bundle's digest, so a connection's trust never leaks into
 * another's. Idle sockets close after a while and do not keep the process alive.
 */
const sharedAgents = new Map<string, https.Agent>();

function agentFor(insecureSkipTLSVerify: boolean, caBundle: string | undefined): https.Agent {
  const key = `${insecureSkipTLSVerify}:${caBundle ? createHash("sha256").update(caBundle).digest("hex") : ""}`;
  let agent = sharedAgents.get(key);
  if (!agent) {
    agent = new https.Agent({
      keepAlive: true,
      // An idle socket is closed by us before a server's idle timeout can close it under a request.
      timeout: 4_000,
      maxSockets: 16,
      maxFreeSockets: 4,
      rejectUnauthorized: !insecureSkipTLSVerify,
      ...(caBundle ? { ca: caBundle } : {}),
    });
    sharedAgents.set(key, agent);
  }
  return agent;
}

/** One VM of `GET /cluster/resources?type=vm`. */
export interface VmResource {
  vmId: number;
  node: string;
  /** running, stopped, unknown (its node is offline), ... */
  status: string;
  template: boolean;
}

export class ProxmoxApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
    this.name = "ProxmoxApiError";
  }
}

/**
 * The few direct Proxmox VE API calls the operator makes itself (everything that changes a VM
 * goes through Terraform): picking a free VM id, checking whether a VM exists, and reading a
 * VM's config (its ownership marker, name and disks).
 */
export class ProxmoxApiClient {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(private readonly options: ProxmoxApiOptions) {
    this.base = new URL("api2/json/", options.endpoint.endsWith("/") ? options.endpoint : `${options.endpoint}/`);
    this.agent = agentFor(options.insecureSkipTLSVerify ?? false, options.caBundle);
  }

  /** The first free VM id at or after `from` (Proxmox's own check, which also sees other users' VMs). */
  async isVmIdFree(vmId: number): Promise<boolean> {
    try {
      await this.request("GET", `cluster/nextid?vmid=${vmId}`);
      return true;
    } catch (error) {
      if (error instanceof ProxmoxApiError && error.status === 400) return false;
      throw error;
    }
  }

  async nextId(): Promise<number> {
    return Number(await this.request("GET", "cluster/nextid"));
  }

  /** Whether the VM exists on the node (status/current answers). */
  async vmExists(node: string, vmId: number): Promise<boolean> {
    try {
      await this.request("GET", `nodes/${encodeURIComponent(node)}/qemu/${vmId}/status/current`);
      return true;
    } catch (error) {
      if (error instanceof ProxmoxApiError && (error.status === 500 || error.status === 404) && /does not exist|not exist/i.test(error.message)) return false;
      throw error;
    }
  }

  /**
   * The VM's current configuration (name, tags, disks, digest), or undefined when no VM has the
   * id on the node. The pipeline checks the ownership marker in `tags` before it adopts a VM.
   */
  async vmConfig(node: string, vmId: number): Promise<VmConfigSummary | undefined> {
    try {
      const config = await this.request("GET", `nodes/${encodeURIComponent(node)}/qemu/${vmId}/config`);
      return vmConfigSummary(config !== null && typeof config === "object" ? (config as Record<string, unknown>) : {});
    } catch (error) {
      if (error instanceof ProxmoxApiError && (error.status === 500 || error.status === 404) && /does not exist|not exist/i.test(error.message)) return undefined;
      throw error;
    }
  }

  /** Every VM the token may audit, with the node it is on and its power state (one call for a whole cluster). */
  async vmResources(): Promise<VmResource[]> {
    const rows = await this.request("GET", "cluster/resources?type=vm");
    if (!Array.isArray(rows)) return [];
    const out: VmResource[] = [];
    for (const row of rows as Record<string, unknown>[]) {
      if (row?.type !== "qemu" || typeof row.vmid !== "number" || typeof row.node !== "string") continue;
      out.push({ vmId: row.vmid, node: row.node, status: typeof row.status === "string" ? row.status : "unknown", template: row.template === 1 });
    }
    return out;
  }

  /** The VM's power state (`running`, `stopped`, ...) from status/current. */
  async vmPowerState(node: string, vmId: number): Promise<string> {
    const current = (await this.request("GET", `nodes/${encodeURIComponent(node)}/qemu/${vmId}/status/current`)) as { status?: unknown } | null;
    return typeof current?.status === "string" ? current.status : "unknown";
  }

  /**
   * The error of a failed call, fit for a condition: the endpoint is whatever the connection
   * names, so its status line and error fields are untrusted text. They are cut short, stripped
   * of control characters, and cleared of the token in any spelling.
   */
  private errorOf(method: string, url: URL, status: number, statusMessage: string | undefined, errors: unknown): ProxmoxApiError {
    const redactor = new Redactor([this.options.apiToken]);
    // eslint-disable-next-line no-control-regex -- stripping control characters is the point
    const clean = (text: string, max: number) => clip(redactor.redact(text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim()), max);
    const fields: Record<string, string> = {};
    if (errors && typeof errors === "object") {
      for (const [key, value] of Object.entries(errors).slice(0, MAX_ERROR_FIELDS)) fields[clean(key, 64)] = clean(String(value), MAX_ERROR_FIELD);
    }
    const detail = Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join("; ");
    const line = `${method} ${url.pathname}: ${status} ${clean(statusMessage ?? "", 120)}`.trim();
    return new ProxmoxApiError(status, clip(detail ? `${line} (${detail})` : line, MAX_ERROR_MESSAGE), Object.keys(fields).length > 0 ? fields : undefined);
  }

  request(method: string, path: string): Promise<unknown> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          headers: { Authorization: `PVEAPIToken=${this.options.apiToken}`, Accept: "application/json" },
          timeout: this.options.timeoutMs ?? 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: { data?: unknown; errors?: Record<string, string> } = {};
            try {
              body = text ? (JSON.parse(text) as typeof body) : {};
            } catch {
              // Proxmox answers some errors with an empty or non-JSON body; the status line says it.
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(body.data);
            else reject(this.errorOf(method, url, status, res.statusMessage, body.errors));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on("error", reject);
      req.end();
    });
  }
}
