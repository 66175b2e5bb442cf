import { BlockList, isIP } from "node:net";

/**
 * Which Proxmox endpoints a ProxmoxConnection may name. The worker sends the connection's API
 * token to its endpoint, so an endpoint is a destination for a credential: plain http:// leaks
 * it on the wire, and an arbitrary host turns the worker into a request forwarder (SSRF).
 *
 * Allow-list entries: a host name (`pve.example.com`), a wildcard domain (`*.example.com`:
 * any name below it, not the domain itself), an IP address, or a CIDR block. CIDR blocks match
 * endpoints written as IP addresses only: host names are not resolved here, because tofu
 * resolves them again on its own (a check on this side's answer would prove nothing); list
 * names by name, and let the chart's NetworkPolicy hold the worker to the addresses.
 */
export interface EndpointPolicyOptions {
  allowHttp: boolean;
  /** Empty: any host. */
  allowlist: readonly string[];
}

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const HOST_NAME = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})*$`, "i");

export function isEndpointAllowEntry(entry: string): boolean {
  const cidr = /^([^/]+)\/([0-9]{1,3})$/.exec(entry);
  if (cidr) {
    const family = isIP(cidr[1]!);
    return family !== 0 && Number(cidr[2]) <= (family === 4 ? 32 : 128);
  }
  return isIP(entry) !== 0 || HOST_NAME.test(entry);
}

export class EndpointPolicy {
  private readonly addresses = new BlockList();
  private readonly names: string[] = [];
  private readonly domains: string[] = [];
  private readonly open: boolean;

  constructor(private readonly o: EndpointPolicyOptions) {
    this.open = o.allowlist.length === 0;
    for (const entry of o.allowlist) {
      const cidr = /^([^/]+)\/([0-9]{1,3})$/.exec(entry);
      if (cidr) this.addresses.addSubnet(cidr[1]!, Number(cidr[2]), family(cidr[1]!));
      else if (isIP(entry)) this.addresses.addAddress(entry, family(entry));
      else if (entry.startsWith("*.")) this.domains.push(entry.slice(1).toLowerCase());
      else this.names.push(entry.toLowerCase());
    }
  }

  /** Why `endpoint` may not be used, or undefined when it may. */
  problem(endpoint: string): string | undefined {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return `endpoint ${JSON.stringify(endpoint)} is not a URL`;
    }
    if (url.username || url.password) return "the endpoint must not carry a user or password: the API token is the only credential";
    if (url.protocol === "http:" && !this.o.allowHttp) {
      return "the endpoint uses http://, which would send the API token unencrypted: use https:// (or have the operator's administrator set PTM_ALLOW_HTTP_ENDPOINTS=true)";
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return `the endpoint must be an https:// URL, not ${url.protocol}`;
    if (this.open) return undefined;
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (this.allows(host)) return undefined;
    return `the endpoint host ${host} is not in the operator's endpoint allow-list (PTM_ENDPOINT_ALLOWLIST, Helm value endpointPolicy.allowlist): ask the operator's administrator to add it`;
  }

  private allows(host: string): boolean {
    const ip = isIP(host);
    if (ip !== 0) return this.addresses.check(host, ip === 4 ? "ipv4" : "ipv6");
    const name = host.replace(/\.$/, "");
    return this.names.includes(name) || this.domains.some((suffix) => name.endsWith(suffix) && name.length > suffix.length);
  }
}

function family(address: string): "ipv4" | "ipv6" {
  return isIP(address) === 6 ? "ipv6" : "ipv4";
}
