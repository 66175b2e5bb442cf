/**
 * The property-string formats of a VM's passed-through devices, after qemu-server:
 * `hostpciN` (PVE/QemuServer/PCI.pm's pve-qm-hostpci), `usbN` (USB.pm's pve-qm-usb) and
 * `virtiofsN` (Virtiofs.pm's pve-qm-virtiofs). A device names either real hardware (`host`)
 * or a cluster-wide resource mapping (`mapping=<id>`; for virtiofs the directory mapping's id
 * is the default key). Pure: parsing only.
 */
import { parsePropertyString, type PropFormat, type PropKey, type PropObject } from "./config-strings.js";

/** PVE::JSONSchema's pve-configid format (mapping ids). */
export const CONFIG_ID: PropKey = {
  type: "string",
  check: (v) => (/^[a-z][a-z0-9_-]+$/i.test(v) ? undefined : `invalid configuration ID '${v}'`),
};

const PCI_ID = "(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?";
const USB_ID = "(0x)?([0-9A-Fa-f]{4}):(0x)?([0-9A-Fa-f]{4})";
const USB_PATH = "(\\d+)-(\\d+(\\.\\d+)*)";
const HEX_ID: PropKey = { type: "string", optional: true, pattern: /0x[0-9a-fA-F]{4}/ };
const bool: PropKey = { type: "boolean", optional: true };

export const HOSTPCI_FORMAT: PropFormat = {
  defaultKey: "host",
  keys: {
    host: { type: "string", optional: true, pattern: new RegExp(`${PCI_ID}(;${PCI_ID})*`) },
    mapping: { ...CONFIG_ID, optional: true },
    rombar: bool,
    romfile: { type: "string", optional: true, pattern: /[^,;]+/ },
    pcie: bool,
    "x-vga": bool,
    "legacy-igd": bool,
    mdev: { type: "string", optional: true, pattern: /[^/.:]+/ },
    "vendor-id": HEX_ID,
    "device-id": HEX_ID,
    "sub-vendor-id": HEX_ID,
    "sub-device-id": HEX_ID,
    driver: { type: "string", optional: true, enum: ["vfio", "keep"] },
  },
};

export const USB_FORMAT: PropFormat = {
  defaultKey: "host",
  keys: {
    host: { type: "string", optional: true, pattern: new RegExp(`(?:(?:${USB_ID})|(?:${USB_PATH})|[Ss][Pp][Ii][Cc][Ee])`) },
    mapping: { ...CONFIG_ID, optional: true },
    usb3: bool,
  },
};

export const VIRTIOFS_FORMAT: PropFormat = {
  defaultKey: "dirid",
  keys: {
    dirid: CONFIG_ID,
    cache: { type: "string", optional: true, enum: ["auto", "always", "metadata", "never"] },
    "direct-io": bool,
    "expose-xattr": bool,
    "expose-acl": bool,
  },
};

export type DeviceKind = "pci" | "usb" | "dir";

/** The mapping kind a config key refers to (`hostpci0` -> pci), if it is a device option. */
export function deviceKindOf(key: string): DeviceKind | undefined {
  if (/^hostpci\d+$/.test(key)) return "pci";
  if (/^usb\d+$/.test(key)) return "usb";
  if (/^virtiofs\d$/.test(key)) return "dir";
  return undefined;
}

const FORMATS: Record<DeviceKind, PropFormat> = { pci: HOSTPCI_FORMAT, usb: USB_FORMAT, dir: VIRTIOFS_FORMAT };

/** Parses a device value; throws PropertyStringError for a value the schema refuses. */
export function parseDevice(kind: DeviceKind, value: string): PropObject {
  return parsePropertyString(FORMATS[kind], value);
}

/** The mapping id a parsed device refers to, if any. */
export function mappingIdOf(kind: DeviceKind, device: PropObject): string | undefined {
  return kind === "dir" ? device.dirid : device.mapping;
}
