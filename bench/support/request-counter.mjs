/**
 * Preloaded into an operator process by bench/at-rest.ts (NODE_OPTIONS=--import=<this file>):
 * counts the process's outgoing HTTPS requests (the kube client and the Proxmox client both go
 * through https.request) by method and a path with names, ids and queries folded away, and
 * writes the tally to PTM_BENCH_REQUEST_LOG every half second. A measuring aid, not operator code.
 */
import { writeFileSync } from "node:fs";
import https from "node:https";
import process from "node:process";
import { setInterval } from "node:timers";
import { URL } from "node:url";

const out = process.env.PTM_BENCH_REQUEST_LOG;
if (out) {
  const tally = new Map();
  let changed = true;
  const original = https.request;

  /** /apis/g/v1/namespaces/ns/proxmoxvms/name/status → /apis/g/v1/namespaces/*\/proxmoxvms/*\/status */
  const PLURALS = /^(proxmoxvms|proxmoxconnections|secrets|events|leases)$/;
  /** /apis/g/v1/namespaces/ns/proxmoxvms/vm-1/status → /apis/g/v1/namespaces/{ns}/proxmoxvms/{name}/status */
  const shapeOf = (pathname, search) => {
    const parts = pathname.split("/");
    const shaped = parts
      .map((p, i) => (parts[i - 1] === "namespaces" ? "{ns}" : i > 0 && PLURALS.test(parts[i - 1]) ? "{name}" : p))
      .join("/")
      .replace(/\/qemu\/\d+/g, "/qemu/{vmid}")
      .replace(/\/nodes\/[^/]+/g, "/nodes/{node}");
    return /[?&]watch=(true|1)/.test(search) ? `${shaped}?watch` : shaped;
  };

  https.request = function countedRequest(...args) {
    const first = args[0];
    const options = typeof args[1] === "object" && args[1] !== null && typeof args[1] !== "function" ? args[1] : undefined;
    let method = "GET";
    let pathname = "/";
    let search = "";
    let port = "";
    if (first instanceof URL) {
      pathname = first.pathname;
      search = first.search;
      port = first.port;
    } else if (typeof first === "string") {
      const url = new URL(first);
      pathname = url.pathname;
      search = url.search;
      port = url.port;
    } else if (first && typeof first === "object") {
      const [p, q = ""] = String(first.path ?? "/").split("?");
      pathname = p;
      search = q ? `?${q}` : "";
      port = String(first.port ?? "");
      method = first.method ?? method;
    }
    if (options?.method) method = options.method;
    const key = `${port} ${method.toUpperCase()} ${shapeOf(pathname, search)}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
    changed = true;
    return original.apply(this, args);
  };

  const flush = () => {
    if (!changed) return;
    changed = false;
    writeFileSync(out, JSON.stringify(Object.fromEntries(tally)));
  };
  setInterval(flush, 500).unref();
  process.on("exit", flush);
}
