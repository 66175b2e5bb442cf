/**
 * Proxmox "property strings": the `key=value,key=value` values of VM config options such as
 * `net0: virtio=BC:24:11:2E:7A:01,bridge=vmbr0,tag=10` or
 * `scsi0: local-lvm:vm-101-disk-0,iothread=1,size=20G`.
 *
 * Parsing and printing follow PVE::JSONSchema's parse_property_string/print_property_string:
 * empty parts are skipped, a part without `=` sets the format's default key, booleans are
 * normalised to 1/0, key aliases (`virtio=<mac>` means model=virtio,macaddr=<mac>) are resolved,
 * and printing puts the default key first, then required keys, then the rest sorted by name,
 * with disk sizes printed in Proxmox's K/M/G/T notation.
 */

export type PropType = "string" | "boolean" | "integer" | "number";

export interface PropKey {
  type: PropType;
  optional?: boolean;
  enum?: readonly string[];
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  /** `disk-size` format: parsed with parseSize, printed with formatSize. */
  diskSize?: boolean;
  /** Custom check; returns an error message or undefined. */
  check?: (value: string) => string | undefined;
}

export interface PropFormat {
  keys: Record<string, PropKey>;
  defaultKey?: string;
  /** alias name -> { alias: real key, keyAlias: key that receives the alias name } */
  aliases?: Record<string, { alias: string; keyAlias?: string }>;
  /** Extra validation of the parsed object as a whole. */
  validate?: (obj: Record<string, string>) => Record<string, string> | undefined;
}

export type PropObject = Record<string, string>;

/** A property string that does not parse; `errors` maps keys to messages like Proxmox's. */
export class PropertyStringError extends Error {
  constructor(
    message: string,
    readonly errors: Record<string, string> = {},
  ) {
    super(message);
    this.name = "PropertyStringError";
  }

  /** One-line-per-error text as Proxmox puts under the option name: "invalid format - ...". */
  describe(option: string): string {
    const details = Object.entries(this.errors).map(([k, v]) => `\n${option}.${k}: ${v}`);
    return `invalid format - ${this.message}${details.join("")}`;
  }
}

export function parseBoolean(value: string): "1" | "0" | undefined {
  if (/^(1|on|yes|true)$/i.test(value)) return "1";
  if (/^(0|off|no|false)$/i.test(value)) return "0";
  return undefined;
}

/** Checks one value against its key's schema; returns Proxmox's message or undefined. */
export function checkValue(spec: PropKey, value: string): string | undefined {
  switch (spec.type) {
    case "boolean":
      if (value !== "1" && value !== "0" && parseBoolean(value) === undefined) {
        return `type check ('boolean') failed - got '${value}'`;
      }
      break;
    case "integer": {
      if (!/^-?\d+$/.test(value)) return `type check ('integer') failed - got '${value}'`;
      const n = Number(value);
      if (spec.minimum !== undefined && n < spec.minimum) return `value must have a minimum value of ${spec.minimum}`;
      if (spec.maximum !== undefined && n > spec.maximum) return `value must have a maximum value of ${spec.maximum}`;
      break;
    }
    case "number": {
      if (!/^-?\d+(\.\d+)?$/.test(value)) return `type check ('number') failed - got '${value}'`;
      const n = Number(value);
      if (spec.minimum !== undefined && n < spec.minimum) return `value must have a minimum value of ${spec.minimum}`;
      if (spec.maximum !== undefined && n > spec.maximum) return `value must have a maximum value of ${spec.maximum}`;
      break;
    }
    case "string":
      if (spec.enum && !spec.enum.includes(value)) {
        return `value '${value}' does not have a value in the enumeration '${spec.enum.join(", ")}'`;
      }
      if (spec.pattern && !new RegExp(`^(?:${spec.pattern.source})$`).test(value)) {
        return `value does not match the regex pattern`;
      }
      if (spec.diskSize && parseSize(value) === undefined) {
        return `value '${value}' does not look like a valid disk size`;
      }
      break;
  }
  return spec.check?.(value);
}

export function parsePropertyString(format: PropFormat, data: string): PropObject {
  const res: PropObject = {};
  let defaultKeyUsed = false;
  for (const part of data.split(",")) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/s.exec(part);
    if (kv) {
      let key = kv[1] as string;
      let value = kv[2] as string;
      if (res[key] !== undefined) throw new PropertyStringError(`duplicate key in comma-separated list property: ${key}`);
      const alias = format.aliases?.[key];
      if (alias) {
        if (alias.keyAlias) {
          if (res[alias.keyAlias] !== undefined) {
            throw new PropertyStringError(`key alias '${alias.keyAlias}' is already defined`);
          }
          res[alias.keyAlias] = key;
        }
        key = alias.alias;
        if (res[key] !== undefined) throw new PropertyStringError(`key '${key}' is already defined (via alias)`);
      }
      const spec = format.keys[key];
      if (!spec) throw new PropertyStringError(`invalid key in comma-separated list property: ${key}`);
      if (spec.type === "boolean") value = parseBoolean(value) ?? value;
      res[key] = value;
    } else if (!part.includes("=")) {
      const dk = format.defaultKey;
      if (!dk) throw new PropertyStringError("value without key, but schema does not define a default key");
      if (defaultKeyUsed || res[dk] !== undefined) {
        throw new PropertyStringError(`duplicate key in comma-separated list property: ${dk}`);
      }
      defaultKeyUsed = true;
      const spec = format.keys[dk];
      res[dk] = spec?.type === "boolean" ? (parseBoolean(part) ?? part) : part;
    } else {
      throw new PropertyStringError("missing key in comma-separated list property");
    }
  }
  const errors: Record<string, string> = {};
  for (const [key, spec] of Object.entries(format.keys)) {
    const value = res[key];
    if (value === undefined) {
      if (!spec.optional) errors[key] = "property is missing and it is not optional";
      continue;
    }
    const problem = checkValue(spec, value);
    if (problem) errors[key] = problem;
  }
  if (Object.keys(errors).length === 0 && format.validate) Object.assign(errors, format.validate(res) ?? {});
  if (Object.keys(errors).length > 0) throw new PropertyStringError("format error", errors);
  return res;
}

export function formatPropertyString(format: PropFormat, data: PropObject, skip: string[] = []): string {
  const parts: string[] = [];
  const done = new Set(skip);
  const keyAliasOf: Record<string, string> = {};
  for (const a of Object.values(format.aliases ?? {})) if (a.keyAlias) keyAliasOf[a.keyAlias] = a.alias;
  const formatValue = (key: string, value: string): string => {
    const spec = format.keys[key];
    if (spec?.diskSize) {
      const bytes = parseSize(value);
      if (bytes !== undefined) return formatSize(bytes);
    }
    if (value.includes(",")) throw new PropertyStringError(`illegal value with commas for ${key}`);
    return value;
  };
  const add = (key: string, isDefault: boolean) => {
    if (done.has(key)) return;
    done.add(key);
    const value = data[key];
    if (value === undefined) return;
    const combine = keyAliasOf[key];
    if (combine !== undefined && data[combine] !== undefined) {
      parts.push(`${formatValue(key, value)}=${formatValue(combine, data[combine] as string)}`);
      done.add(combine);
      return;
    }
    parts.push(isDefault ? formatValue(key, value) : `${key}=${formatValue(key, value)}`);
  };
  if (format.defaultKey) add(format.defaultKey, true);
  const keys = Object.keys(data).sort();
  for (const key of keys) if (format.keys[key] && !format.keys[key]?.optional) add(key, false);
  for (const key of keys) add(key, false);
  return parts.join(",");
}

// ---- sizes -------------------------------------------------------------------------------

/** PVE::JSONSchema::parse_size: bytes, or undefined when the text is not a size. */
export function parseSize(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT](?:iB)?)?$/.exec(value);
  if (!m) return undefined;
  const unit = (m[2] ?? "").charAt(0);
  const factor = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[unit] ?? 1;
  return Math.trunc(Number(m[1]) * factor);
}

/** PVE::JSONSchema::format_size: the largest unit that divides the size exactly. */
export function formatSize(bytes: number): string {
  const size = Math.trunc(bytes);
  const kb = Math.trunc(size / 1024);
  if (kb * 1024 !== size) return String(size);
  const mb = Math.trunc(kb / 1024);
  if (mb * 1024 !== kb) return `${kb}K`;
  const gb = Math.trunc(mb / 1024);
  if (gb * 1024 !== mb) return `${mb}M`;
  const tb = Math.trunc(gb / 1024);
  if (tb * 1024 !== gb) return `${gb}G`;
  return `${tb}T`;
}

// ---- network devices (netN) ----------------------------------------------------------------

export const NIC_MODELS = [
  "e1000",
  "e1000-82540em",
  "e1000-82544gc",
  "e1000-82545em",
  "e1000e",
  "i82551",
  "i82557b",
  "i82559er",
  "ne2k_isa",
  "ne2k_pci",
  "pcnet",
  "rtl8139",
  "virtio",
  "vmxnet3",
] as const;

const MAC_RE = /[a-fA-F0-9]{2}(?::[a-fA-F0-9]{2}){5}/;

export const NET_FORMAT: PropFormat = {
  defaultKey: "model",
  keys: {
    model: { type: "string", enum: NIC_MODELS },
    macaddr: {
      type: "string",
      optional: true,
      pattern: MAC_RE,
      check: (v) =>
        parseInt(v.slice(0, 2), 16) & 1 ? "value is not a valid unicast MAC address" : undefined,
    },
    bridge: { type: "string", optional: true, pattern: /[-_.\w\d]+/ },
    queues: { type: "integer", optional: true, minimum: 0, maximum: 64 },
    rate: { type: "number", optional: true, minimum: 0 },
    tag: { type: "integer", optional: true, minimum: 1, maximum: 4094 },
    trunks: { type: "string", optional: true, pattern: /\d+(?:-\d+)?(?:;\d+(?:-\d+)?)*/ },
    firewall: { type: "boolean", optional: true },
    link_down: { type: "boolean", optional: true },
    mtu: { type: "integer", optional: true, minimum: 1, maximum: 65520 },
    "host-tunnel": { type: "boolean", optional: true },
  },
  aliases: Object.fromEntries(NIC_MODELS.map((m) => [m, { alias: "macaddr", keyAlias: "model" }])),
};

export function parseNet(value: string): PropObject {
  return parsePropertyString(NET_FORMAT, value);
}

export function formatNet(net: PropObject): string {
  return formatPropertyString(NET_FORMAT, net);
}

/** PVE::Tools::random_ether_addr with the datacenter's default prefix BC:24:11. */
export function randomMac(prefix = "BC:24:11", random: () => number = Math.random): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(random() * 256));
  bytes[0] = ((bytes[0] as number) & 0xfe) | 2;
  const addr = bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(":");
  return prefix.toUpperCase() + addr.slice(prefix.length);
}

// ---- drives (ideN, sataN, scsiN, virtioN, efidisk0, tpmstate0, unusedN) ---------------------

const bool = { type: "boolean", optional: true } as const;
const int = { type: "integer", optional: true, minimum: 0 } as const;
const num = { type: "number", optional: true, minimum: 0 } as const;

export const DRIVE_FORMAT: PropFormat = {
  defaultKey: "file",
  keys: {
    file: { type: "string" },
    media: { type: "string", optional: true, enum: ["cdrom", "disk"] },
    snapshot: bool,
    cache: { type: "string", optional: true, enum: ["none", "writethrough", "writeback", "unsafe", "directsync"] },
    format: { type: "string", optional: true, enum: ["raw", "cow", "qcow", "qed", "qcow2", "vmdk", "cloop"] },
    size: { type: "string", optional: true, diskSize: true },
    backup: bool,
    replicate: bool,
    rerror: { type: "string", optional: true, enum: ["ignore", "report", "stop"] },
    werror: { type: "string", optional: true, enum: ["enospc", "ignore", "report", "stop"] },
    aio: { type: "string", optional: true, enum: ["native", "threads", "io_uring"] },
    discard: { type: "string", optional: true, enum: ["ignore", "on"] },
    detect_zeroes: bool,
    serial: { type: "string", optional: true, pattern: /[^\s,]{1,60}/ },
    shared: bool,
    iothread: bool,
    product: { type: "string", optional: true },
    vendor: { type: "string", optional: true },
    model: { type: "string", optional: true },
    queues: { type: "integer", optional: true, minimum: 2 },
    ro: bool,
    scsiblock: bool,
    ssd: bool,
    wwn: { type: "string", optional: true, pattern: /(?:0x)?[0-9a-fA-F]{16}/ },
    cyls: int,
    heads: int,
    secs: int,
    trans: { type: "string", optional: true, enum: ["none", "lba", "auto"] },
    iops: int,
    iops_rd: int,
    iops_wr: int,
    iops_max: int,
    iops_rd_max: int,
    iops_wr_max: int,
    iops_max_length: int,
    iops_rd_max_length: int,
    iops_wr_max_length: int,
    mbps: num,
    mbps_rd: num,
    mbps_wr: num,
    mbps_max: num,
    mbps_rd_max: num,
    mbps_wr_max: num,
    bps: int,
    bps_rd: int,
    bps_wr: int,
    bps_max_length: int,
    bps_rd_max_length: int,
    bps_wr_max_length: int,
    "import-from": { type: "string", optional: true },
    efitype: { type: "string", optional: true, enum: ["2m", "4m"] },
    "pre-enrolled-keys": bool,
    "ms-cert": { type: "string", optional: true },
    version: { type: "string", optional: true, enum: ["v1.2", "v2.0"] },
  },
  aliases: { volume: { alias: "file" } },
};

export function parseDrive(value: string): PropObject {
  return parsePropertyString(DRIVE_FORMAT, value);
}

export function formatDrive(drive: PropObject): string {
  return formatPropertyString(DRIVE_FORMAT, drive);
}

/** `local-lvm:10` (allocate a new 10 GiB volume) and `local-lvm:0.5`; PVE's NEW_DISK_RE. */
export function parseNewDiskSpec(file: string): { storage: string; sizeGiB: number } | undefined {
  const m = /^([^:\s]+):(\d+(?:\.\d+)?)$/.exec(file);
  if (!m) return undefined;
  return { storage: m[1] as string, sizeGiB: Number(m[2]) };
}

/** `local-lvm:cloudinit` asks Proxmox to allocate the VM's cloud-init drive. */
export function parseCloudInitSpec(file: string): { storage: string } | undefined {
  const m = /^([^:\s]+):cloudinit$/.exec(file);
  return m ? { storage: m[1] as string } : undefined;
}

export function isCloudInitVolume(file: string): boolean {
  return /[:/]vm-\d+-cloudinit(\.\w+)?$/.test(file);
}

export function isCdrom(drive: PropObject): boolean {
  return drive.media === "cdrom" && !isCloudInitVolume(drive.file ?? "");
}

export function splitVolumeId(volid: string): { storage: string; volname: string } | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]):(.+)$/.exec(volid);
  return m ? { storage: m[1] as string, volname: m[2] as string } : undefined;
}

// ---- cloud-init ipconfigN -------------------------------------------------------------------

const IPV4_RE = /(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)/;
const IPV6_RE = /[0-9a-fA-F:]*:[0-9a-fA-F:.]*/;

export function isIPv4(value: string): boolean {
  return new RegExp(`^${IPV4_RE.source}$`).test(value);
}

function isIPv4Cidr(value: string): boolean {
  const [ip, prefix, extra] = value.split("/");
  return extra === undefined && prefix !== undefined && isIPv4(ip ?? "") && /^\d+$/.test(prefix) && Number(prefix) <= 32;
}

function isIPv6(value: string): boolean {
  return new RegExp(`^${IPV6_RE.source}$`).test(value) && value.includes(":");
}

function isIPv6Cidr(value: string): boolean {
  const [ip, prefix, extra] = value.split("/");
  return extra === undefined && prefix !== undefined && isIPv6(ip ?? "") && /^\d+$/.test(prefix) && Number(prefix) <= 128;
}

export const IPCONFIG_FORMAT: PropFormat = {
  keys: {
    ip: {
      type: "string",
      optional: true,
      check: (v) => (v === "dhcp" || isIPv4Cidr(v) ? undefined : `value does not look like a valid IPv4 network configuration`),
    },
    gw: { type: "string", optional: true, check: (v) => (isIPv4(v) ? undefined : `value does not look like a valid IPv4 address`) },
    ip6: {
      type: "string",
      optional: true,
      check: (v) =>
        v === "dhcp" || v === "auto" || isIPv6Cidr(v) ? undefined : `value does not look like a valid IPv6 network configuration`,
    },
    gw6: { type: "string", optional: true, check: (v) => (isIPv6(v) ? undefined : `value does not look like a valid IPv6 address`) },
  },
  validate: (o): Record<string, string> | undefined => {
    if (o.gw && !o.ip) return { gw: "gateway specified without specifying an IP address" };
    if (o.gw6 && !o.ip6) return { gw6: "IPv6 gateway specified without specifying an IPv6 address" };
    return undefined;
  },
};

export function parseIpConfig(value: string): PropObject {
  return parsePropertyString(IPCONFIG_FORMAT, value);
}

// ---- small formats used by the agent and the status endpoints -------------------------------

export const AGENT_FORMAT: PropFormat = {
  defaultKey: "enabled",
  keys: {
    enabled: { type: "boolean" },
    fstrim_cloned_disks: bool,
    "freeze-fs-on-backup": bool,
    "guest-fsfreeze": bool,
    type: { type: "string", optional: true, enum: ["virtio", "isa"] },
  },
};

export const MEMORY_FORMAT: PropFormat = {
  defaultKey: "current",
  keys: { current: { type: "integer", minimum: 16 } },
};

export const BOOT_FORMAT: PropFormat = {
  defaultKey: "legacy",
  keys: {
    legacy: { type: "string", optional: true, pattern: /[acdn]{1,4}/ },
    order: { type: "string", optional: true, pattern: /[^\s;]+(?:;[^\s;]+)*/ },
  },
};

/** Decodes `sshkeys` the way PVE's uri_unescape does (%XX only; '+' stays '+'). */
export function decodeSshKeys(value: string): string {
  return value.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * A structural stand-in for `ssh-keygen -l` on each non-empty line: `[options] type base64`,
 * with a base64 blob that itself starts with the key type. Returns false on any bad line.
 */
export function validSshPublicKeys(raw: string): boolean {
  for (const line of raw.split("\n")) {
    if (/^\s*$/.test(line)) continue;
    const m = /(?:^|\s)((?:ssh|ecdsa|sk)-[\w@.-]+)\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(line);
    if (!m) return false;
    const blob = Buffer.from(m[2] as string, "base64");
    if (blob.length < 4) return false;
    const len = blob.readUInt32BE(0);
    if (blob.subarray(4, 4 + len).toString("latin1") !== m[1]) return false;
  }
  return true;
}
