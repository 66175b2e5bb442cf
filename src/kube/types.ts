import type { KubernetesObject, V1ObjectMeta } from "@kubernetes/client-node";
import type { ProxmoxConnectionSpec } from "../api/proxmox-connection.js";
import type { ProxmoxVMSpecInput } from "../api/proxmox-vm.js";
import type { ProxmoxConnectionStatus, ProxmoxVMStatus } from "../api/status.js";

/** A ProxmoxVM as read from the API server (spec not yet validated). */
export interface ProxmoxVMObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ProxmoxVMSpecInput;
  status?: ProxmoxVMStatus;
}

export interface ProxmoxConnectionObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ProxmoxConnectionSpec;
  status?: ProxmoxConnectionStatus;
}

export interface ObjectKey {
  namespace: string;
  name: string;
}

export const keyOf = (o: { metadata?: { namespace?: string; name?: string } }): string =>
  `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
