/**
 * A VM's config as qemu-server keeps it in /etc/pve/qemu-server/<vmid>.conf: `key: value`
 * lines sorted by key (the description as leading `#` comment lines), then a `[PENDING]`
 * section with changes not applied yet, including `delete: opt,!forced-opt`. The config
 * digest is the SHA-1 of that file text, as in Proxmox.
 */
import { createHash } from "node:crypto";

export type ConfigMap = Record<string, string>;

export interface StoredConfig {
  conf: ConfigMap;
  pending: ConfigMap;
}

function encodeText(line: string): string {
  return line.replace(/[^\x20-\x7e]|%/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

function rawSection(conf: ConfigMap): string {
  let raw = "";
  const descr = conf.description;
  if (descr !== undefined) {
    raw += descr ? descr.split("\n").map((l) => `#${encodeText(l)}\n`).join("") : "#\n";
  }
  for (const key of Object.keys(conf).sort()) {
    if (key === "description" || key === "digest") continue;
    raw += `${key}: ${conf[key]}\n`;
  }
  return raw;
}

/** The text of the config file. */
export function serializeConfig(stored: StoredConfig): string {
  let raw = rawSection(stored.conf);
  if (Object.keys(stored.pending).length > 0) raw += `\n[PENDING]\n${rawSection(stored.pending)}`;
  return raw;
}

export function configDigest(stored: StoredConfig): string {
  return createHash("sha1").update(serializeConfig(stored)).digest("hex");
}

export interface PendingDelete {
  key: string;
  force: boolean;
}

export function parsePendingDelete(value: string | undefined): PendingDelete[] {
  if (!value) return [];
  return value
    .split(/[,;\s]+/)
    .filter((s) => s !== "")
    .map((s) => (s.startsWith("!") ? { key: s.slice(1), force: true } : { key: s, force: false }));
}

export function printPendingDelete(list: PendingDelete[]): string | undefined {
  if (list.length === 0) return undefined;
  return list.map((d) => (d.force ? `!${d.key}` : d.key)).join(",");
}

export function addPendingDelete(pending: ConfigMap, key: string, force = false): void {
  const list = parsePendingDelete(pending.delete).filter((d) => d.key !== key);
  list.push({ key, force });
  pending.delete = printPendingDelete(list) as string;
}

export function removePendingDelete(pending: ConfigMap, key: string): void {
  const list = parsePendingDelete(pending.delete).filter((d) => d.key !== key);
  const printed = printPendingDelete(list);
  if (printed === undefined) delete pending.delete;
  else pending.delete = printed;
}

/** load_current_config without `current`: the config with pending changes applied. */
export function withPendingApplied(stored: StoredConfig): ConfigMap {
  const out: ConfigMap = { ...stored.conf };
  for (const [k, v] of Object.entries(stored.pending)) if (k !== "delete") out[k] = v;
  for (const d of parsePendingDelete(stored.pending.delete)) delete out[d.key];
  return out;
}

/** PVE::QemuConfig->cleanup_pending: drops pending values equal to the current ones. */
export function cleanupPending(stored: StoredConfig): boolean {
  let changed = false;
  for (const [k, v] of Object.entries(stored.pending)) {
    if (k === "delete") continue;
    if (stored.conf[k] === v) {
      delete stored.pending[k];
      changed = true;
    }
  }
  const dels = parsePendingDelete(stored.pending.delete);
  const kept = dels.filter((d) => stored.conf[d.key] !== undefined || stored.pending[d.key] !== undefined);
  if (kept.length !== dels.length) {
    changed = true;
    const printed = printPendingDelete(kept);
    if (printed === undefined) delete stored.pending.delete;
    else stored.pending.delete = printed;
  }
  return changed;
}

/** GET .../pending: one entry per key, with `value` (current), `pending` and `delete` (1, or 2 forced). */
export function pendingList(stored: StoredConfig): Array<Record<string, string | number>> {
  const dels = new Map(parsePendingDelete(stored.pending.delete).map((d) => [d.key, d.force]));
  const keys = new Set([...Object.keys(stored.conf), ...Object.keys(stored.pending), ...dels.keys()]);
  keys.delete("delete");
  keys.delete("digest");
  const out: Array<Record<string, string | number>> = [];
  for (const key of [...keys].sort()) {
    const item: Record<string, string | number> = { key };
    if (stored.conf[key] !== undefined) item.value = stored.conf[key];
    if (stored.pending[key] !== undefined) item.pending = stored.pending[key];
    if (dels.has(key)) item.delete = dels.get(key) ? 2 : 1;
    out.push(item);
  }
  return out;
}
