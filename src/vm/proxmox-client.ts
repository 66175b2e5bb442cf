import { ProxmoxApiClient } from "../proxmox/api-client.js";
import type { ResolvedConnection } from "./connection-resolver.js";

/** A Proxmox API client with the connection's endpoint, token and TLS settings. */
export function proxmoxClient(connection: ResolvedConnection): ProxmoxApiClient {
  return new ProxmoxApiClient({
    endpoint: connection.spec.endpoint,
    apiToken: connection.apiToken,
    insecureSkipTLSVerify: connection.spec.insecureSkipTLSVerify,
    ...(connection.caBundle ? { caBundle: connection.caBundle } : {}),
  });
}

