/**
 * What must hold after any fault (issue 12, "Invariants"), checked against the real parts:
 *
 * - exactly one Proxmox VM per ProxmoxVM, found by its ownership marker, at the VM id in status;
 * - the same VM id and disk volume ids as before the fault (nothing was replaced);
 * - no VM on Proxmox whose resource was deleted (a marker naming no live ProxmoxVM), and no VM
 *   without a marker (a half-made one);
 * - every ProxmoxVM Ready, with observedGeneration = generation;
 * - every run record finished (none left `running`);
 * - no secret (the connection's token, the database password, the cloud-init password) in PostgreSQL (runs, run
 *   events, errored states, Terraform state), Redis (every value under the harness's prefix),
 *   operator logs, Events, the resources (status included) or the work directories.
 *
 * checkInvariants returns every violation (the soak prints them); assertInvariants fails a test
 * with all of them at once.
 */
import { lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { Redis } from "ioredis";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { OWNERSHIP_TAG_PREFIX } from "../../src/synth/synthesize.js";
import type { OperatorHarness } from "./operator-harness.js";
import { waitFor } from "./wait.js";

/** A ProxmoxVM's VM on Proxmox, as far as replacement goes: its id and its disks' volume ids. */
export interface VmIdentity {
  name: string;
  uid: string;
  vmId: number;
  /** `<drive key>=<volume id>`, sorted, e.g. `scsi0=local-lvm:vm-100-disk-0`. */
  disks: string[];
}

export interface InvariantOptions {
  /** Identities taken before the fault: each VM still there must have kept its id and disks. */
  before?: Map<string, VmIdentity>;
  /** Secret values that must appear nowhere (the harness's connection token is always added). */
  secrets?: string[];
  /** How long to wait for the run queue to drain before checking (default 5 min). */
  idleTimeoutMs?: number;
}

export interface InvariantReport {
  /** ProxmoxVMs checked. */
  resources: number;
  violations: string[];
}

const DRIVE_KEY = /^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)\d+$/;

/** The volume ids of a Proxmox VM config's drives (`none` and bare CD-ROM drives have none). */
export function diskVolumes(conf: Record<string, unknown>): string[] {
  const disks: string[] = [];
  for (const [key, value] of Object.entries(conf)) {
    if (!DRIVE_KEY.test(key) || typeof value !== "string") continue;
    const first = value.split(",")[0] ?? "";
    const file = first.startsWith("file=") ? first.slice(5) : first;
    if (file.includes(":")) disks.push(`${key}=${file}`);
  }
  return disks.sort();
}

async function listVms(h: OperatorHarness): Promise<ProxmoxVMObject[]> {
  const out = await h.kubectl(["get", "-n", h.namespace, "proxmoxvms", "-o", "json"]);
  return (JSON.parse(out) as { items: ProxmoxVMObject[] }).items;
}

function ownerUids(conf: Record<string, unknown>): string[] {
  return String(conf.tags ?? "")
    .split(/[;, ]/)
    .filter((tag) => tag.startsWith(OWNERSHIP_TAG_PREFIX))
    .map((tag) => tag.slice(OWNERSHIP_TAG_PREFIX.length));
}

/** Every ProxmoxVM's VM identity now, keyed by resource name (resources without a VM are left out). */
export async function vmIdentities(h: OperatorHarness): Promise<Map<string, VmIdentity>> {
  const identities = new Map<string, VmIdentity>();
  const vms = h.simVms();
  for (const vm of await listVms(h)) {
    const uid = vm.metadata.uid!;
    const owned = vms.find((v) => ownerUids(v.conf).includes(uid));
    if (owned) identities.set(vm.metadata.name!, { name: vm.metadata.name!, uid, vmId: owned.vmid, disks: diskVolumes(owned.conf) });
  }
  return identities;
}

/** The harness's connection token secret: the part after the token id. */
export function tokenSecretOf(h: OperatorHarness): string {
  return h.sim.token.slice(h.sim.token.lastIndexOf("=") + 1);
}

/**
 * Waits until no run is queued or being worked on for any ProxmoxVM (its job has left the queue):
 * a run record still `running` after that is one nobody will finish. Resolves with the resources
 * whose job is still there at the timeout.
 */
export async function waitForIdleRuns(h: OperatorHarness, timeoutMs = 300_000): Promise<string[]> {
  let busy: string[] = [];
  await waitFor(
    "every run job to leave the queue",
    async () => {
      busy = [];
      for (const vm of await listVms(h)) if ((await h.runJobState(vm.metadata.name!).catch(() => undefined)) !== undefined) busy.push(vm.metadata.name!);
      return busy.length === 0;
    },
    timeoutMs,
  ).catch(() => undefined);
  return busy;
}

export async function checkInvariants(h: OperatorHarness, options: InvariantOptions = {}): Promise<InvariantReport> {
  const violations: string[] = [];
  const busy = await waitForIdleRuns(h, options.idleTimeoutMs);
  if (busy.length > 0) violations.push(`runs still queued or active after waiting: ${busy.join(", ")}`);
  const resources = await listVms(h);
  const simVms = h.simVms();
  const liveUids = new Set(resources.map((r) => r.metadata.uid!));

  for (const resource of resources) {
    const name = resource.metadata.name!;
    const uid = resource.metadata.uid!;
    const owned = simVms.filter((v) => ownerUids(v.conf).includes(uid));
    if (owned.length !== 1) violations.push(`ProxmoxVM ${name}: ${owned.length} VMs on Proxmox carry its marker (${owned.map((v) => v.vmid).join(", ") || "none"})`);
    const status = resource.status;
    if (owned.length === 1 && status?.vmId !== owned[0]!.vmid) violations.push(`ProxmoxVM ${name}: status.vmId ${status?.vmId} but its VM is ${owned[0]!.vmid}`);
    const ready = status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status !== "True") violations.push(`ProxmoxVM ${name}: Ready is ${ready?.status ?? "missing"} (${ready?.reason ?? ""}: ${ready?.message ?? ""})`);
    if (status?.observedGeneration !== resource.metadata.generation) {
      violations.push(`ProxmoxVM ${name}: observedGeneration ${status?.observedGeneration} != generation ${resource.metadata.generation}`);
    }
    const before = options.before?.get(name);
    if (before && before.uid === uid && owned.length === 1) {
      const now = owned[0]!;
      if (now.vmid !== before.vmId) violations.push(`ProxmoxVM ${name}: VM id changed from ${before.vmId} to ${now.vmid} (replaced)`);
      const disks = diskVolumes(now.conf);
      if (JSON.stringify(disks) !== JSON.stringify(before.disks)) violations.push(`ProxmoxVM ${name}: disks changed from [${before.disks.join(" ")}] to [${disks.join(" ")}]`);
    }
  }
  for (const vm of simVms) {
    const owners = ownerUids(vm.conf);
    if (owners.length === 0) violations.push(`VM ${vm.vmid} (${String(vm.conf.name ?? "unnamed")}) on Proxmox carries no ownership marker`);
    else if (!owners.some((uid) => liveUids.has(uid))) violations.push(`VM ${vm.vmid} (${String(vm.conf.name ?? "unnamed")}) is still on Proxmox, but its ProxmoxVM was deleted`);
  }

  const running = await h.pg((c) => c.query<{ name: string; action: string; id: string }>(`select name, action, id from ${h.dbSchema}.runs where status = 'running'`));
  for (const run of running.rows) violations.push(`run ${run.id} (${run.action} ${run.name}) is still 'running'`);

  const secrets = [tokenSecretOf(h), new URL(h.databaseUrl).password, ...(options.secrets ?? [])].filter((s) => s.length >= 8);
  for (const [where, text] of await secretSearchSpace(h, resources)) {
    for (const secret of secrets) if (text.includes(secret)) violations.push(`a secret (${secret.slice(0, 3)}…) appears in ${where}`);
  }
  return { resources: resources.length, violations };
}

/** Throws with every violation listed (no vitest import: bench/soak.ts uses this module too). */
export async function assertInvariants(h: OperatorHarness, options: InvariantOptions = {}): Promise<InvariantReport> {
  const report = await checkInvariants(h, options);
  if (report.violations.length > 0) throw new Error(`${report.violations.length} invariant(s) violated:\n  ${report.violations.join("\n  ")}`);
  return report;
}

/** [where, text] pairs: everything a secret must not appear in. */
async function secretSearchSpace(h: OperatorHarness, resources: ProxmoxVMObject[]): Promise<[string, string][]> {
  const space: [string, string][] = [];
  space.push(["the ProxmoxVM resources (status included)", JSON.stringify(resources)]);
  space.push(["the ProxmoxConnections", await h.kubectl(["get", "-n", h.namespace, "proxmoxconnections", "-o", "json"])]);
  space.push(["Events", await h.kubectl(["get", "-n", h.namespace, "events", "-o", "json"])]);
  for (const schema of [h.dbSchema, h.stateSchema]) {
    await h.pg(async (c) => {
      const tables = await c.query<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = $1`, [schema]);
      for (const { table_name: table } of tables.rows) {
        const rows = await c.query(`select * from ${schema}."${table}"`);
        space.push([`PostgreSQL ${schema}.${table}`, rows.rows.map(rowText).join("\n")]);
      }
    });
  }
  space.push([`Redis (keys ${h.prefix}:*)`, await redisValues(h.redisUrl, `${h.prefix}:*`)]);
  for (const file of h.logFiles()) space.push([`operator log ${path.basename(file)}`, await readFile(file, "utf8").catch(() => "")]);
  for (const [file, text] of await filesUnder(h.workdir)) space.push([`work directory file ${path.relative(h.workdir, file)}`, text]);
  return space;
}

function rowText(row: Record<string, unknown>): string {
  return Object.values(row)
    .map((v) => (Buffer.isBuffer(v) ? v.toString("utf8") : typeof v === "object" ? JSON.stringify(v) : String(v)))
    .join("\t");
}

/** Every value of every key matching `pattern`, whatever its type. */
async function redisValues(url: string, pattern: string): Promise<string> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    const parts: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === "string" ? await redis.get(key)
          : type === "hash" ? await redis.hgetall(key)
          : type === "list" ? await redis.lrange(key, 0, -1)
          : type === "set" ? await redis.smembers(key)
          : type === "zset" ? await redis.zrange(key, 0, -1)
          : type === "stream" ? await redis.xrange(key, "-", "+")
          : null;
        parts.push(`${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== "0");
    return parts.join("\n");
  } finally {
    redis.disconnect();
  }
}

/** Text of every regular file under `dir`, skipping tofu's provider installs (`.terraform/providers`). */
async function filesUnder(dir: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (!(entry.name === "providers" && path.basename(d) === ".terraform")) await walk(full);
      } else if (entry.isFile()) {
        const info = await lstat(full).catch(() => undefined);
        if (info && info.size < 32 << 20) found.push([full, await readFile(full, "utf8").catch(() => "")]);
      }
    }
  };
  await walk(dir);
  return found;
}
