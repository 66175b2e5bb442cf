import type { ProxmoxApiClient } from "../proxmox/api-client.js";

/** What a drift check compares: the VM as Proxmox held it right after the last successful run. */
export interface ObservedConfig {
  /** SHA-1 Proxmox gives the VM's config file; it changes whenever the file does. */
  configDigest: string;
  node: string;
  powerState: string;
  recordedAt: string;
}

/**
 * Reads the digest and power state of a VM that a run just applied (or found unchanged). Undefined
 * when Proxmox cannot tell (the VM is gone, the call failed): the next drift check then plans in
 * full, which is what it did before digests were kept, so a failed read costs a plan, not a run.
 */
export async function readObservedConfig(proxmox: ProxmoxApiClient, node: string, vmId: number, now = new Date()): Promise<ObservedConfig | undefined> {
  try {
    const [config, powerState] = await Promise.all([proxmox.vmConfig(node, vmId), proxmox.vmPowerState(node, vmId)]);
    if (!config?.digest) return undefined;
    return { configDigest: config.digest, node, powerState, recordedAt: now.toISOString() };
  } catch {
    return undefined;
  }
}
