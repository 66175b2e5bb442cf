/**
 * The VM ("qemu") config options of Proxmox VE's API schema (pve-docs API viewer /
 * qemu-server's $confdesc), with their JSON types. The types decide how GET config encodes a
 * value (booleans and integers as JSON numbers, everything else as strings) and how PUT/POST
 * config validates it. Options whose value is itself a property string name their format;
 * those are parsed strictly, others are checked for type only.
 */
import {
  AGENT_FORMAT,
  BOOT_FORMAT,
  DRIVE_FORMAT,
  IPCONFIG_FORMAT,
  MEMORY_FORMAT,
  NET_FORMAT,
  PropertyStringError,
  checkValue,
  parsePropertyString,
  type PropFormat,
  type PropKey,
} from "./config-strings.js";
import { HOSTPCI_FORMAT, USB_FORMAT, VIRTIOFS_FORMAT } from "./device-formats.js";

export interface OptionSpec extends PropKey {
  /** Property-string format of the value, parsed strictly on update. */
  format?: PropFormat;
}

const b: OptionSpec = { type: "boolean", optional: true };
const s: OptionSpec = { type: "string", optional: true };
const i = (minimum?: number, maximum?: number): OptionSpec => ({ type: "integer", optional: true, minimum, maximum });
const n = (minimum?: number, maximum?: number): OptionSpec => ({ type: "number", optional: true, minimum, maximum });
const e = (...values: string[]): OptionSpec => ({ type: "string", optional: true, enum: values });

const DNS_NAME = /(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/;

/** Fixed-name options. */
export const QEMU_OPTIONS: Record<string, OptionSpec> = {
  acpi: b,
  affinity: { type: "string", optional: true, pattern: /[\d,-]+/ },
  agent: { ...s, format: AGENT_FORMAT },
  "allow-ksm": b,
  "amd-sev": s,
  arch: e("x86_64", "aarch64"),
  args: s,
  audio0: s,
  autostart: b,
  balloon: i(0),
  bios: e("seabios", "ovmf"),
  boot: { ...s, format: BOOT_FORMAT },
  bootdisk: { type: "string", optional: true, pattern: /(ide|sata|scsi|virtio)\d+/ },
  cdrom: s,
  cicustom: s,
  cipassword: s,
  citype: e("configdrive2", "nocloud", "opennebula"),
  ciupgrade: b,
  ciuser: s,
  cores: i(1),
  cpu: s,
  cpulimit: n(0, 128),
  cpuunits: i(1, 262144),
  description: { type: "string", optional: true, check: (v) => (v.length > 8192 ? "value may only be 8192 characters long" : undefined) },
  efidisk0: { ...s, format: DRIVE_FORMAT },
  freeze: b,
  hookscript: s,
  hotplug: { type: "string", optional: true, pattern: /(?:(?:network|disk|cpu|memory|usb|cloudinit)(?:,(?:network|disk|cpu|memory|usb|cloudinit))*|0|1)/ },
  hugepages: e("any", "2", "1024"),
  "intel-tdx": s,
  ivshmem: s,
  keephugepages: b,
  keyboard: e(
    "de", "de-ch", "da", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is", "it", "ja",
    "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "sv", "sl", "tr",
  ),
  kvm: b,
  localtime: b,
  lock: e("backup", "clone", "create", "migrate", "rollback", "snapshot", "snapshot-delete", "suspending", "suspended"),
  machine: s,
  memory: { ...s, format: MEMORY_FORMAT },
  meta: s,
  migrate_downtime: n(0),
  migrate_speed: i(0),
  name: { type: "string", optional: true, pattern: DNS_NAME },
  nameserver: s,
  numa: b,
  onboot: b,
  ostype: e("other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"),
  protection: b,
  reboot: b,
  rng0: s,
  scsihw: e("lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"),
  searchdomain: s,
  shares: i(0, 50000),
  smbios1: s,
  smp: i(1),
  sockets: i(1),
  spice_enhancements: s,
  sshkeys: s,
  startdate: s,
  startup: s,
  tablet: b,
  tags: { type: "string", optional: true, pattern: /[a-zA-Z0-9_+\-.;, ]*/ },
  tdf: b,
  template: b,
  tpmstate0: { ...s, format: DRIVE_FORMAT },
  vcpus: i(1),
  vga: s,
  vmgenid: s,
  vmstatestorage: s,
  watchdog: s,
};

/** Numbered options: prefix, highest index, spec. */
const NUMBERED: Array<[string, number, OptionSpec]> = [
  ["net", 31, { ...s, format: NET_FORMAT }],
  ["ipconfig", 31, { ...s, format: IPCONFIG_FORMAT }],
  ["ide", 3, { ...s, format: DRIVE_FORMAT }],
  ["sata", 5, { ...s, format: DRIVE_FORMAT }],
  ["scsi", 30, { ...s, format: DRIVE_FORMAT }],
  ["virtio", 15, { ...s, format: DRIVE_FORMAT }],
  ["unused", 255, s],
  ["serial", 3, { type: "string", optional: true, pattern: /(\/dev\/.+|socket)/ }],
  ["parallel", 2, s],
  ["usb", 13, { ...s, format: USB_FORMAT }],
  ["hostpci", 15, { ...s, format: HOSTPCI_FORMAT }],
  ["numa", 7, s],
  ["virtiofs", 9, { ...s, format: VIRTIOFS_FORMAT }],
];

export const DRIVE_KEY_RE = /^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|efidisk0|tpmstate0)$/;

export function isDriveKey(key: string): boolean {
  return DRIVE_KEY_RE.test(key);
}

export function optionSpec(key: string): OptionSpec | undefined {
  const fixed = Object.hasOwn(QEMU_OPTIONS, key) ? QEMU_OPTIONS[key] : undefined;
  if (fixed) return fixed;
  for (const [prefix, max, spec] of NUMBERED) {
    const m = new RegExp(`^${prefix}(\\d+)$`).exec(key);
    if (m && Number(m[1]) <= max && String(Number(m[1])) === m[1]) return spec;
  }
  return undefined;
}

/** Keys that are not options but appear in a VM config (GET config adds digest). */
const INTERNAL_KEYS: Record<string, OptionSpec> = {
  digest: s,
  parent: s,
  snaptime: i(0),
  vmstate: s,
  runningmachine: s,
  runningcpu: s,
};

/** The JSON encoding Proxmox uses for a stored config value. */
export function jsonValue(key: string, value: string): string | number {
  const spec = optionSpec(key) ?? INTERNAL_KEYS[key];
  if (!spec) return value;
  if (spec.type === "boolean") return value === "1" || /^(on|yes|true)$/i.test(value) ? 1 : 0;
  if (spec.type === "integer" && /^-?\d+$/.test(value)) return Number(value);
  if (spec.type === "number" && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

/**
 * Validates one option value as `update_vm` does; returns the value to store (booleans
 * normalised to 1/0) or throws a message for the `errors` map.
 */
export function validateOption(key: string, value: string): string {
  const spec = optionSpec(key);
  if (!spec) throw new Error("property is not defined in schema and the schema does not allow additional properties");
  if (/[\n\r]/.test(value) && key !== "description") throw new Error("property contains a line feed");
  const problem = checkValue(spec, value);
  if (problem) throw new Error(problem);
  if (spec.format) {
    try {
      parsePropertyString(spec.format, value);
    } catch (err) {
      if (err instanceof PropertyStringError) throw new Error(err.describe(key));
      throw err;
    }
  }
  if (spec.type === "boolean") return value === "1" || /^(on|yes|true)$/i.test(value) ? "1" : "0";
  if (spec.type === "integer") return String(Number(value));
  if (key === "description") return storedDescription(value);
  return value;
}

/**
 * The description as it reads back after qemu-server wrote it to the config file and parsed
 * it again: written as one `#` comment line per line (Perl's split drops trailing empty ones),
 * read back line by line with a newline each, then trailing whitespace stripped.
 */
export function storedDescription(value: string): string {
  const lines = value.split("\n");
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines
    .map((l) => `${l}\n`)
    .join("")
    .replace(/\s+$/, "");
}

/**
 * Options that take effect on a running VM without a restart. fast-plug ones always apply
 * immediately (qemu-server's $fast_plug_option, which includes every cloud-init option); the
 * rest depend on the VM's `hotplug` setting (default "network,disk,usb").
 */
export const FAST_PLUG_OPTIONS = new Set([
  "description",
  "hookscript",
  "lock",
  "migrate_downtime",
  "migrate_speed",
  "name",
  "onboot",
  "protection",
  "shares",
  "startup",
  "tags",
  "vmstatestorage",
  "cicustom",
  "cipassword",
  "citype",
  "ciupgrade",
  "ciuser",
  "nameserver",
  "searchdomain",
  "sshkeys",
]);

export function isFastPlug(key: string): boolean {
  return FAST_PLUG_OPTIONS.has(key) || /^ipconfig\d+$/.test(key);
}

export function hotplugFeatures(value: string | undefined): Set<string> {
  const v = value ?? "1";
  if (v === "1") return new Set(["network", "disk", "usb"]);
  if (v === "0") return new Set();
  return new Set(v.split(","));
}
