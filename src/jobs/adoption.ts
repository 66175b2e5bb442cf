import type { ProxmoxApiClient } from "../proxmox/api-client.js";
import { VM_ADDRESS } from "./tofu-session.js";

/**
 * Crash recovery: the id is pinned in status and was free when pinned, so a VM with that id is
 * this ProxmoxVM's own. If a crashed run created it without recording it in state, the stack
 * adopts it with an `import` block (a no-op when the resource is already in state).
 */
export async function withAdoption(
  config: Record<string, unknown>,
  configJson: string,
  proxmox: ProxmoxApiClient,
  node: string,
  vmId: number,
  knownAbsent: boolean,
): Promise<string> {
  if (knownAbsent || !(await proxmox.vmExists(node, vmId))) return configJson;
  return JSON.stringify({ ...config, import: [{ to: VM_ADDRESS, id: `${node}/${vmId}` }] }, null, 2);
}
