import { TerraformProvider } from "cdktn";
import type { Construct } from "constructs";

/** The provider's registry address; `terraform.required_providers.proxmox.source`. */
export const PROXMOX_PROVIDER_SOURCE = "bpg/proxmox";

export interface ProxmoxProviderConfig {
  /** Exact provider version to pin in `required_providers` (e.g. "0.111.1"). */
  readonly version: string;
}

/**
 * The bpg/proxmox provider block. Deliberately takes no endpoint and no credentials: the worker
 * passes PROXMOX_VE_ENDPOINT / PROXMOX_VE_API_TOKEN / PROXMOX_VE_INSECURE in the environment, so
 * nothing secret (or connection-specific) ever reaches the synthesized JSON or its hash.
 */
export class ProxmoxProvider extends TerraformProvider {
  constructor(scope: Construct, id: string, config: ProxmoxProviderConfig) {
    super(scope, id, {
      terraformResourceType: "proxmox",
      terraformGeneratorMetadata: { providerName: "proxmox", providerVersion: config.version },
      terraformProviderSource: PROXMOX_PROVIDER_SOURCE,
    });
  }
}
