import { Reason } from "../api/conditions.js";
import { requiredOn } from "../api/required-privileges.js";
import type { ConnectionInventory } from "../api/status.js";
import { ProxmoxApiError, type ProxmoxApiClient } from "./api-client.js";

/** What one check of a connection found: Ready or why not, and what VMs can use. */
export interface ConnectionHealth {
  ready: boolean;
  reason: Reason;
  message: string;
  version?: string;
  inventory?: ConnectionInventory;
  /** Per template / storage / bridge: the privileges this token lacks there (for preflight). */
  missing: MissingPrivileges;
}

/** ACL path → privileges the token lacks on it. */
export type MissingPrivileges = Record<string, string[]>;

const TLS_CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed",
  SELF_SIGNED_CERT_IN_CHAIN: "the certificate chain ends in a self-signed certificate that is not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "no trusted CA signs the certificate",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the certificate's issuer is not a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT: "the certificate's issuer is not a trusted CA",
  CERT_HAS_EXPIRED: "the certificate has expired",
  CERT_NOT_YET_VALID: "the certificate is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate does not name this host",
  ERR_SSL_WRONG_VERSION_NUMBER: "the endpoint does not speak TLS (is it http://?)",
  EPROTO: "the TLS handshake failed",
};
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET", "EAI_AGAIN", "EPIPE"]);

const TLS_HINT = "set caBundleSecretRef to the CA that signs the endpoint's certificate (or, for a test setup only, insecureSkipTLSVerify: true)";

/**
 * Why a call to Proxmox failed, as a connection reason and a message a person can act on; null
 * when it is not a connection-level problem (the caller reports it as it is).
 */
export function connectionProblemOf(error: unknown, endpoint: string): { reason: Reason; message: string } | null {
  const code = (error as { code?: string }).code ?? "";
  if (TLS_CODES[code]) return { reason: Reason.TLSError, message: `TLS to ${endpoint} failed: ${TLS_CODES[code]} (${code}); ${TLS_HINT}` };
  if (UNREACHABLE_CODES.has(code) || /timed out/.test(String((error as Error).message)))
    return { reason: Reason.Unreachable, message: `cannot reach ${endpoint} (${code || "timed out"}): check spec.endpoint, the host and port, and that the operator's network may reach it` };
  if (error instanceof ProxmoxApiError && error.status === 401)
    return { reason: Reason.AuthenticationFailed, message: `Proxmox refused the API token (401 ${error.message.replace(/^\S+ \S+: 401\s*/, "")}): check the token id and secret in the connection's token Secret, and that the token and its user are enabled and not expired` };
  return null;
}

/**
 * Checks a connection the way a person would before trusting it: the version, the token's
 * effective privileges, and what VMs can use (nodes, storages, bridges, templates). Read-only.
 */
export async function checkConnection(client: ProxmoxApiClient, endpoint: string, tokenId: string): Promise<ConnectionHealth> {
  let version: string;
  try {
    const v = (await get(client, "version")) as { version?: string; release?: string };
    version = String(v?.version ?? v?.release ?? "unknown");
  } catch (error) {
    const problem = connectionProblemOf(error, endpoint);
    if (problem) return { ready: false, ...problem, missing: {} };
    throw error;
  }

  let inventory: ConnectionInventory;
  let missing: MissingPrivileges;
  try {
    inventory = await readInventory(client);
    missing = await missingPrivileges(client, inventory);
  } catch (error) {
    // A read the token may not make (Proxmox names the path and privilege in its 403).
    if (error instanceof ProxmoxApiError && error.status === 403) return { ready: false, reason: Reason.PermissionDenied, message: `token ${tokenId}: ${error.message}; ${GRANT_HINT}`, version, missing: {} };
    throw error;
  }
  const lacking = blockingPrivileges(missing);
  if (lacking.length > 0) {
    return {
      ready: false,
      reason: Reason.PermissionDenied,
      message: `token ${tokenId} lacks ${lacking.map(([path, privileges]) => `${privileges.join(", ")} on ${path}`).join("; ")}: ${GRANT_HINT}`,
      version,
      inventory,
      missing,
    };
  }
  const online = inventory.nodes.filter((n) => n.online).length;
  return {
    ready: true,
    reason: Reason.Connected,
    message: `Proxmox VE ${version}: ${online} of ${inventory.nodes.length} nodes online, ${inventory.templates.length} templates, as ${tokenId}`,
    version,
    inventory,
    missing,
  };
}

const GRANT_HINT = `grant them to the token and, with privilege separation, to its user too (a role with the privileges the README lists under "Connecting your Proxmox", on /)`;

/**
 * The missing privileges that make the whole connection unusable, path by path: those on /vms and
 * on each node (any VM needs them), and those on /storage when the token sees no datastore at all.
 * A single template, datastore or bridge out of reach is preflight's business.
 */
function blockingPrivileges(missing: MissingPrivileges): [string, string[]][] {
  return Object.entries(missing)
    .filter(([path]) => path === "/vms" || path === "/storage" || path.startsWith("/nodes/"))
    .sort(([a], [b]) => pathOrder(a) - pathOrder(b) || a.localeCompare(b));
}

function pathOrder(path: string): number {
  return path === "/vms" ? 0 : path.startsWith("/nodes/") ? 1 : 2;
}

interface NodeEntry {
  node: string;
  status?: string;
  maxcpu?: number;
  maxmem?: number;
}
interface StorageEntry {
  storage: string;
  type?: string;
  content?: string;
  avail?: number;
  active?: number;
  enabled?: number;
}
interface NetworkEntry {
  iface: string;
  type?: string;
}
interface ResourceEntry {
  vmid?: number;
  name?: string;
  node?: string;
  template?: number;
}

const MiB = 1024 * 1024;

export async function readInventory(client: ProxmoxApiClient): Promise<ConnectionInventory> {
  const nodes = ((await get(client, "nodes")) as NodeEntry[] | null) ?? [];
  const inventory: ConnectionInventory = {
    nodes: nodes
      .map((n) => ({ name: n.node, online: n.status === "online", ...(n.maxcpu ? { cpus: n.maxcpu } : {}), ...(n.maxmem ? { memoryMiB: Math.floor(n.maxmem / MiB) } : {}) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    storages: [],
    bridges: [],
    templates: [],
  };
  for (const node of inventory.nodes.filter((n) => n.online)) {
    const at = `nodes/${encodeURIComponent(node.name)}`;
    const [storages, networks] = await Promise.all([
      get(client, `${at}/storage`) as Promise<StorageEntry[] | null>,
      get(client, `${at}/network?type=any_bridge`) as Promise<NetworkEntry[] | null>,
    ]);
    for (const s of storages ?? []) {
      if (s.enabled === 0) continue;
      inventory.storages.push({
        node: node.name,
        id: s.storage,
        type: s.type ?? "unknown",
        content: (s.content ?? "").split(",").filter(Boolean).sort(),
        ...(s.avail !== undefined ? { availableMiB: Math.floor(s.avail / MiB) } : {}),
        active: s.active !== 0,
      });
    }
    for (const b of networks ?? []) inventory.bridges.push({ node: node.name, name: b.iface });
  }
  const resources = ((await get(client, "cluster/resources?type=vm")) as ResourceEntry[] | null) ?? [];
  inventory.templates = resources
    .filter((r) => r.template === 1 && r.vmid !== undefined)
    .map((r) => ({ vmid: r.vmid!, name: r.name ?? "", node: r.node ?? "" }))
    .sort((a, b) => a.vmid - b.vmid);
  inventory.storages.sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
  inventory.bridges.sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name));
  return inventory;
}

/** The token's effective privileges on `path` (Proxmox computes inheritance and privilege separation). */
async function privilegesOn(client: ProxmoxApiClient, path: string): Promise<Set<string>> {
  const answer = (await get(client, `access/permissions?path=${encodeURIComponent(path)}`)) as Record<string, Record<string, number>> | null;
  return new Set(Object.keys(answer?.[path] ?? {}));
}

async function missingPrivileges(client: ProxmoxApiClient, inventory: ConnectionInventory): Promise<MissingPrivileges> {
  const checks: [string, readonly string[]][] = [["/vms", requiredOn("/vms")]];
  for (const n of inventory.nodes) checks.push([`/nodes/${n.name}`, requiredOn("/nodes/{node}")]);
  // Proxmox lists only the datastores a token may audit: seeing none, say what /storage lacks.
  if (inventory.storages.length === 0) checks.push(["/storage", requiredOn("/storage/{datastore}")]);
  for (const t of inventory.templates) checks.push([`/vms/${t.vmid}`, requiredOn("/vms/{template}")]);
  for (const id of new Set(inventory.storages.filter((s) => s.content.includes("images")).map((s) => s.id))) checks.push([`/storage/${id}`, requiredOn("/storage/{datastore}")]);
  for (const name of new Set(inventory.bridges.map((b) => b.name))) checks.push([`/sdn/zones/localnetwork/${name}`, requiredOn("/sdn/zones/localnetwork/{bridge}")]);
  const missing: MissingPrivileges = {};
  // A few at a time: a cluster with hundreds of templates must not open hundreds of connections.
  for (let i = 0; i < checks.length; i += 4) {
    await Promise.all(
      checks.slice(i, i + 4).map(async ([path, needed]) => {
        const held = await privilegesOn(client, path);
        const lacking = needed.filter((p) => !held.has(p));
        if (lacking.length) missing[path] = lacking;
      }),
    );
  }
  return missing;
}

/**
 * A read that tries again on a server error (5xx): one busy moment of a Proxmox node must not
 * make a whole connection look broken. Anything else (401, network errors) answers at once.
 */
export async function get(client: ProxmoxApiClient, path: string, attempts = 3): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.request("GET", path);
    } catch (error) {
      if (!(error instanceof ProxmoxApiError) || error.status < 500 || error.status === 595 || attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
