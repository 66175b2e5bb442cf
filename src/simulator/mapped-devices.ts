/**
 * What qemu-server checks about a VM's mapped devices when it builds the QEMU command line at
 * start (config_to_command): each `hostpciN`/`usbN` with `mapping=<id>` and each `virtiofsN`
 * must resolve to the mapping's entry for the node the VM starts on (pve-guest-common's
 * find_on_current_node). The messages are qemu-server's (PCI.pm parse_hostpci, USB.pm
 * parse_usb_device) and pve-guest-common's (Mapping/Dir.pm find_on_current_node).
 *
 * The simulator's nodes have no hardware inventory: a PCI or USB device named by `host`, and the
 * device a mapping points to, are taken to exist (Proxmox would run lspci / check the USB bus
 * and the mapping's vendor/device ids, and a directory mapping's path on the node).
 */
import { PropertyStringError } from "./config-strings.js";
import { deviceKindOf, parseDevice } from "./device-formats.js";
import type { ClusterState, MappingType } from "./state.js";
import type { ConfigMap } from "./vm-config.js";

/** The mapping's `map` entries for `node` (get_node_mapping); undefined when the id is not defined. */
function nodeEntries(state: ClusterState, type: MappingType, id: string, node: string): string[] | undefined {
  const entry = state.mappings[type][id];
  if (!entry) return undefined;
  return entry.map.filter((m) => /(?:^|,)node=([^,]+)/.exec(m)?.[1] === node);
}

/** Sorted `hostpci0..`, then `usb0..`, then `virtiofs0..`: the order config_to_command meets them. */
function deviceKeys(conf: ConfigMap): string[] {
  const order = { pci: 0, usb: 1, dir: 2 } as const;
  return Object.keys(conf)
    .filter((k) => deviceKindOf(k))
    .sort((a, b) => order[deviceKindOf(a)!] - order[deviceKindOf(b)!] || Number(/\d+$/.exec(a)?.[0]) - Number(/\d+$/.exec(b)?.[0]));
}

/** Throws the start failure qemu-server gives for the first device that does not resolve on `node`. */
export function assertMappedDevices(state: ClusterState, conf: ConfigMap, node: string): void {
  for (const key of deviceKeys(conf)) {
    const kind = deviceKindOf(key)!;
    let device;
    try {
      device = parseDevice(kind, conf[key] as string);
    } catch (err) {
      if (err instanceof PropertyStringError) throw new Error(`${key}: ${err.describe(key)}`);
      throw err;
    }
    if (kind === "dir") {
      const id = device.dirid as string;
      const entries = nodeEntries(state, "dir", id, node);
      if (!entries) throw new Error(`Directory ID ${id} does not exist.`);
      if (entries.length > 1) throw new Error(`More than than one directory mapping for node ${node}.`);
      if (entries.length === 0) throw new Error(`No directory mapping for node ${node}.`);
      continue;
    }
    if (kind === "pci") {
      if (device.host !== undefined && device.mapping !== undefined) throw new Error("Cannot set both 'host' and 'mapping'.");
      if (device.mapping !== undefined) {
        const entries = nodeEntries(state, "pci", device.mapping, node);
        if (!entries || entries.length === 0) throw new Error(`PCI device mapping not found for '${device.mapping}'`);
      } else if (device.host === undefined) throw new Error("Either 'host' or 'mapping' must be set.");
      continue;
    }
    // USB: a value with both is not a valid configuration and adds no device (parse_usb_device).
    if (device.host !== undefined || device.mapping === undefined) continue;
    const entries = nodeEntries(state, "usb", device.mapping, node);
    if (!entries || entries.length === 0) throw new Error(`USB device mapping not found for '${device.mapping}'`);
    if (entries.length > 1) throw new Error("More than one USB mapping per host not supported");
  }
}
