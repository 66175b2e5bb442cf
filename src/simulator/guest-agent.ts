/**
 * The QEMU guest agent of a simulated VM. It answers only when the VM runs, has `agent`
 * enabled and has been up for the configured boot delay; before that Proxmox's errors are
 * returned ("No QEMU guest agent configured", "VM <id> is not running", "QEMU guest agent is
 * not running"). network-get-interfaces reports `lo` plus one interface per netN, with the
 * static address from ipconfigN or a deterministic DHCP-style address derived from the MAC.
 */
import { createHash } from "node:crypto";
import { parseIpConfig, parseNet } from "./config-strings.js";
import type { SimContext } from "./context.js";
import { fail } from "./errors.js";
import type { VmState } from "./state.js";

export function agentEnabled(vm: VmState): boolean {
  return /^(1|enabled=1)(,|$)/.test(vm.conf.agent ?? "") || /(^|,)enabled=1(,|$)/.test(vm.conf.agent ?? "");
}

export function assertAgentAvailable(ctx: SimContext, vm: VmState): void {
  if (vm.conf.agent === undefined) throw fail("No QEMU guest agent configured");
  if (vm.status !== "running") throw fail(`VM ${vm.vmid} is not running`);
  const booted = vm.startedAt !== undefined && Date.now() - vm.startedAt >= ctx.behaviour.bootDelayMs;
  if (!agentEnabled(vm) || !booted) throw fail("QEMU guest agent is not running");
}

/** A stable 10.x.y.z/16 address for a MAC, never .0 or .255 in the last octet. */
export function dhcpAddress(mac: string, bridgeTag: number | undefined): string {
  const h = createHash("sha256").update(mac.toLowerCase()).digest();
  const second = bridgeTag ? bridgeTag % 250 : 10;
  const third = (h[0] as number) % 250;
  const fourth = ((h[1] as number) % 250) + 2;
  return `10.${second}.${third}.${fourth}`;
}

function linkLocal(mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  b[0] = (b[0] as number) ^ 2;
  const hex = (i: number) => (b[i] as number).toString(16).padStart(2, "0");
  const groups = [`${hex(0)}${hex(1)}`, `${hex(2)}ff`, `fe${hex(3)}`, `${hex(4)}${hex(5)}`];
  return `fe80::${groups.map((g) => g.replace(/^0+(?=.)/, "")).join(":")}`;
}

interface AgentIp {
  "ip-address-type": "ipv4" | "ipv6";
  "ip-address": string;
  prefix: number;
}

export function networkInterfaces(vm: VmState): { result: unknown[] } {
  const stats = { "rx-bytes": 123456, "rx-dropped": 0, "rx-errs": 0, "rx-packets": 1024, "tx-bytes": 65432, "tx-dropped": 0, "tx-errs": 0, "tx-packets": 512 };
  const result: unknown[] = [
    {
      name: "lo",
      "hardware-address": "00:00:00:00:00:00",
      "ip-addresses": [
        { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 },
        { "ip-address-type": "ipv6", "ip-address": "::1", prefix: 128 },
      ],
      statistics: stats,
    },
  ];
  const nets = Object.keys(vm.conf)
    .filter((k) => /^net\d+$/.test(k))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  for (const key of nets) {
    const index = Number(key.slice(3));
    let net: Record<string, string>;
    try {
      net = parseNet(vm.conf[key] as string);
    } catch {
      continue;
    }
    if (net.link_down === "1") continue;
    const mac = (net.macaddr ?? "00:00:00:00:00:00").toLowerCase();
    let ipcfg: Record<string, string> = {};
    try {
      ipcfg = vm.conf[`ipconfig${index}`] ? parseIpConfig(vm.conf[`ipconfig${index}`] as string) : {};
    } catch {
      ipcfg = {};
    }
    const ips: AgentIp[] = [];
    const ip = ipcfg.ip ?? "dhcp";
    if (ip === "dhcp") ips.push({ "ip-address-type": "ipv4", "ip-address": dhcpAddress(mac, net.tag ? Number(net.tag) : undefined), prefix: 16 });
    else {
      const [addr, prefix] = ip.split("/");
      ips.push({ "ip-address-type": "ipv4", "ip-address": addr as string, prefix: Number(prefix) });
    }
    if (ipcfg.ip6 && ipcfg.ip6 !== "dhcp" && ipcfg.ip6 !== "auto") {
      const [addr, prefix] = ipcfg.ip6.split("/");
      ips.push({ "ip-address-type": "ipv6", "ip-address": addr as string, prefix: Number(prefix) });
    }
    ips.push({ "ip-address-type": "ipv6", "ip-address": linkLocal(mac), prefix: 64 });
    result.push({ name: `eth${index}`, "hardware-address": mac, "ip-addresses": ips, statistics: stats });
  }
  return { result };
}
