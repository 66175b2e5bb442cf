/**
 * What the first-contact end-to-end files share: reading and waiting on ProxmoxConnections,
 * Secrets with the operator's consent label, calls to the simulator as a person would make them,
 * and the table of seconds until status said what is wrong (printed, never asserted).
 */
import https from "node:https";
import type { StatusCondition } from "../../src/api/status.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { yamlOf, type OperatorHarness } from "../support/operator-harness.js";

export const CONSENT = { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" };

export const condition = (obj: { status?: { conditions?: StatusCondition[] } } | undefined, type: string) => obj?.status?.conditions?.find((c) => c.type === type);

/** Rows of (case, reason, seconds until status showed it), printed after the suite. */
export class ShownTimes {
  private readonly rows: [string, string, number][] = [];

  record(label: string, reason: string, startedAt: number): void {
    this.rows.push([label, reason, (Date.now() - startedAt) / 1000]);
  }

  print(title: string): void {
    console.info(`${title}: seconds until status said what is wrong\n${this.rows.map(([c, r, s]) => `  ${c.padEnd(34)} ${r.padEnd(22)} ${s.toFixed(1)}`).join("\n")}`);
  }
}

/** Applies a VM and waits until `type` has `reason` (Stalled True, Ready False); records how long that took. */
export async function applyAndExpect(
  h: OperatorHarness,
  shown: ShownTimes,
  c: { label: string; name: string; spec: Record<string, unknown>; type: "Ready" | "Stalled"; reason: string },
): Promise<ProxmoxVMObject> {
  const started = Date.now();
  await h.apply(proxmoxVm(c.name, { started: false, ...c.spec }));
  const vm = await h.waitForVm(c.name, (v) => condition(v, c.type)?.reason === c.reason && condition(v, c.type)?.status === (c.type === "Stalled" ? "True" : "False"), 60_000);
  shown.record(c.label, c.reason, started);
  return vm!;
}

export async function getConnection(h: OperatorHarness, name: string): Promise<ProxmoxConnectionObject> {
  return JSON.parse(await kubectl(["get", "-n", h.namespace, "pxc", name, "-o", "json"])) as ProxmoxConnectionObject;
}

export async function waitForConnection(h: OperatorHarness, name: string, predicate: (c: ProxmoxConnectionObject) => boolean, timeoutMs = 60_000): Promise<ProxmoxConnectionObject> {
  const deadline = Date.now() + timeoutMs;
  let last: ProxmoxConnectionObject | undefined;
  while (Date.now() < deadline) {
    last = await getConnection(h, name);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ProxmoxConnection ${name}; last status: ${JSON.stringify(last?.status, null, 2)}`);
}

/** A token Secret the operator may read (consent label). */
export async function tokenSecret(h: OperatorHarness, name: string, token: string): Promise<void> {
  await kubectl(["apply", "-n", h.namespace, "-f", "-"], yamlOf({ apiVersion: "v1", kind: "Secret", metadata: { name, labels: CONSENT }, stringData: { token: `PVEAPIToken=${token}` } }));
}

/** A ProxmoxConnection to the harness's simulator whose token lives in Secret `<name>-token`. */
export async function simConnection(h: OperatorHarness, name: string): Promise<void> {
  await h.apply({
    apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
    kind: "ProxmoxConnection",
    metadata: { name },
    spec: { endpoint: h.sim.url, tokenSecretRef: { name: `${name}-token`, key: "token" }, insecureSkipTLSVerify: true },
  });
}

/**
 * A call to the simulator as a person would make it: `/api2/json/...` form-encoded with `token`,
 * or the simulator's own `/_sim/...` test API (JSON).
 */
export async function simCall(h: OperatorHarness, method: string, path: string, params: Record<string, unknown>, token = h.sim.token): Promise<unknown> {
  const own = path.startsWith("/_sim/");
  const body = own ? JSON.stringify(params) : new URLSearchParams(params as Record<string, string>).toString();
  const url = new URL(own ? path.slice(1) : `api2/json${path}`, h.sim.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        rejectUnauthorized: false,
        headers: { Authorization: `PVEAPIToken=${token}`, "Content-Type": own ? "application/json" : "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => ((res.statusCode ?? 500) < 300 ? resolve(JSON.parse(text || "{}")) : reject(new Error(`${method} ${path}: ${res.statusCode} ${res.statusMessage} ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
