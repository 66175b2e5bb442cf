/**
 * Route table for /api2/json: method + path template (`/nodes/{node}/qemu/{vmid}/config`),
 * matched against URL-decoded path segments. A trailing slash is ignored, as Proxmox's
 * handler lookup does (the provider deletes VMs via `.../qemu/{vmid}/?purge=1`).
 */
import type { SimContext } from "./context.js";

export interface RequestContext {
  ctx: SimContext;
  method: string;
  /** Values of the template's {placeholders}. */
  path: Record<string, string>;
  /** Query string and body parameters, merged. */
  params: Record<string, string>;
  /**
   * Who is calling: an API token id (root@pam!terraform) or, with a ticket, a user id
   * (root@pam); "" on the routes Proxmox serves without authentication.
   */
  user: string;
}

export type Handler = (req: RequestContext) => unknown;

/** Runs before a matched handler (permission checks, proxying to offline nodes); throws to refuse. */
export type Guard = (req: RequestContext, route: string) => void;

interface Route {
  method: string;
  template: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];
  private readonly guards: Guard[] = [];

  guard(g: Guard): this {
    this.guards.push(g);
    return this;
  }

  add(method: string, template: string, handler: Handler): this {
    this.routes.push({ method, template, segments: template.split("/").filter(Boolean), handler });
    return this;
  }

  get(template: string, handler: Handler): this {
    return this.add("GET", template, handler);
  }
  post(template: string, handler: Handler): this {
    return this.add("POST", template, handler);
  }
  put(template: string, handler: Handler): this {
    return this.add("PUT", template, handler);
  }
  delete(template: string, handler: Handler): this {
    return this.add("DELETE", template, handler);
  }

  match(method: string, segments: string[]): { template: string; handler: Handler; path: Record<string, string> } | undefined {
    for (const r of this.routes) {
      if (r.method !== method || r.segments.length !== segments.length) continue;
      const path: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < r.segments.length; i++) {
        const t = r.segments[i] as string;
        const s = segments[i] as string;
        if (t.startsWith("{") && t.endsWith("}")) path[t.slice(1, -1)] = s;
        else if (t !== s) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const route = `${r.method} ${r.template}`;
      const handler: Handler = (req) => {
        for (const g of this.guards) g(req, route);
        return r.handler(req);
      };
      return { template: r.template, handler, path };
    }
    return undefined;
  }

  list(): Array<{ method: string; template: string }> {
    return this.routes.map((r) => ({ method: r.method, template: r.template }));
  }
}
