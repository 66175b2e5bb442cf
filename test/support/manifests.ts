import { API_GROUP_VERSION, PROXMOX_VM } from "../../src/api/group.js";

/**
 * A ProxmoxVM manifest for the simulator's seed: template 9000 on node pve1, through the
 * ProxmoxConnection "pve" the operator harness creates. `spec` adds to or overrides that.
 */
export function proxmoxVm(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: PROXMOX_VM.kind,
    metadata: { name, ...metadata },
    spec: { connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 }, ...spec },
  };
}
