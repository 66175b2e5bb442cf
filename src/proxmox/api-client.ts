import https from "node:https";

export interface ProxmoxApiOptions {
  endpoint: string;
  apiToken: string;
  insecureSkipTLSVerify?: boolean;
  caBundle?: string;
  timeoutMs?: number;
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
 * goes through Terraform): picking a free VM id and checking whether a VM exists.
 */
export class ProxmoxApiClient {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(private readonly options: ProxmoxApiOptions) {
    this.base = new URL("api2/json/", options.endpoint.endsWith("/") ? options.endpoint : `${options.endpoint}/`);
    this.agent = new https.Agent({
      keepAlive: false,
      rejectUnauthorized: !options.insecureSkipTLSVerify,
      ...(options.caBundle ? { ca: options.caBundle } : {}),
    });
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
            else {
              const detail = body.errors ? Object.entries(body.errors).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
              reject(new ProxmoxApiError(status, `${method} ${url.pathname}: ${status} ${res.statusMessage ?? ""}${detail ? ` (${detail})` : ""}`.trim(), body.errors));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on("error", reject);
      req.end();
    });
  }
}
