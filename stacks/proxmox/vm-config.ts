/**
 * Typed configuration for `proxmox_virtual_environment_vm` (bpg/proxmox 0.111.1), limited to the
 * arguments the ProxmoxVM spec uses. Names are the provider's in camelCase; types follow the
 * provider schema (`tofu providers schema -json`): numbers for ids and sizes, lists for tags,
 * keys and DNS servers, a Go duration string for `agent.timeout`.
 *
 * To cover a new argument: add it here, map it in vm-to-terraform.ts, and set it in
 * ../vm-config-from-spec.ts (see docs/synthesis.md).
 */

export interface VmCloneConfig {
  readonly vmId: number;
  readonly nodeName?: string;
  readonly full?: boolean;
  readonly datastoreId?: string;
}

export interface VmCpuConfig {
  readonly cores?: number;
  readonly sockets?: number;
  readonly type?: string;
}

export interface VmMemoryConfig {
  /** MiB. */
  readonly dedicated?: number;
  /** MiB; 0 disables ballooning. */
  readonly floating?: number;
}

export interface VmDiskConfig {
  readonly interface: string;
  readonly datastoreId?: string;
  /** GiB. */
  readonly size?: number;
  readonly fileFormat?: string;
  readonly ssd?: boolean;
  readonly discard?: string;
  readonly iothread?: boolean;
}

export interface VmNetworkDeviceConfig {
  readonly bridge: string;
  readonly model?: string;
  readonly vlanId?: number;
  readonly macAddress?: string;
  readonly firewall?: boolean;
  readonly mtu?: number;
}

export interface VmUserAccountConfig {
  readonly username?: string;
  readonly keys?: string[];
  /** Only ever a reference such as `${var.cloud_init_password}`, never a literal. */
  readonly password?: string;
}

export interface VmIpConfig {
  readonly ipv4?: { readonly address?: string; readonly gateway?: string };
}

export interface VmDnsConfig {
  readonly servers?: string[];
  readonly domain?: string;
}

export interface VmInitializationConfig {
  readonly datastoreId?: string;
  readonly userAccount?: VmUserAccountConfig;
  readonly ipConfig?: VmIpConfig[];
  readonly dns?: VmDnsConfig;
}

export interface VmAgentConfig {
  readonly enabled?: boolean;
  /** Go duration, e.g. "15m". */
  readonly timeout?: string;
}

export interface VirtualEnvironmentVmConfig {
  readonly nodeName: string;
  readonly vmId?: number;
  readonly name?: string;
  readonly description?: string;
  readonly tags?: string[];
  readonly clone?: VmCloneConfig;
  readonly cpu?: VmCpuConfig;
  readonly memory?: VmMemoryConfig;
  readonly disk?: VmDiskConfig[];
  readonly networkDevice?: VmNetworkDeviceConfig[];
  readonly initialization?: VmInitializationConfig;
  readonly agent?: VmAgentConfig;
  readonly started?: boolean;
  readonly onBoot?: boolean;
  readonly protection?: boolean;
  readonly poolId?: string;
  /** Migrate the VM when node_name changes, instead of re-creating it. */
  readonly migrate?: boolean;
}
