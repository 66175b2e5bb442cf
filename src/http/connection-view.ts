import type { ProxmoxConnectionObject } from "../kube/types.js";

/**
 * What the sidecar shows of a ProxmoxConnection: where it points and how its last check went. A
 * whitelist like the VM view (src/events/views.ts): the spec's Secret references and anything else
 * a connection may grow never reach a response by accident.
 */
export interface ConnectionView {
  namespace: string;
  name: string;
  endpoint: string;
  /** The Proxmox VE version the last check read; null before a check got that far. */
  version: string | null;
  ready: ReadyView;
  nodeCount: number | null;
  /** Nodes the last check found online; null when it read no inventory. */
  nodesOnline: number | null;
  lastCheckTime: string | null;
}

export interface ReadyView {
  /** True, False, or Unknown before the first check. */
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string | null;
}

const NOT_CHECKED: ReadyView = { status: "Unknown", reason: "NotChecked", message: "the connection has not been checked yet", lastTransitionTime: null };

export function toConnectionView(connection: ProxmoxConnectionObject): ConnectionView {
  const s = connection.status ?? {};
  const ready = s.conditions?.find((c) => c.type === "Ready");
  const nodes = s.inventory?.nodes;
  return {
    namespace: connection.metadata.namespace,
    name: connection.metadata.name,
    endpoint: typeof connection.spec?.endpoint === "string" ? connection.spec.endpoint : "",
    version: s.version ?? null,
    ready: ready ? { status: ready.status, reason: ready.reason, message: ready.message, lastTransitionTime: isoOrNull(ready.lastTransitionTime) } : NOT_CHECKED,
    nodeCount: s.nodeCount ?? nodes?.length ?? null,
    nodesOnline: nodes ? nodes.filter((n) => n.online).length : null,
    lastCheckTime: isoOrNull(s.lastCheckTime),
  };
}

function isoOrNull(value: unknown): string | null {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" && value !== "" ? value : null;
}
