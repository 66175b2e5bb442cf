/**
 * Offline nodes. The API endpoint forwards every `/nodes/<node>/...` call to that node's own
 * API (PVE::APIServer proxy_request, after the caller's permission check); when the node is
 * offline the forwarding fails and the caller gets AnyEvent::HTTP's `595 <connection error>`
 * (typically "Connection refused", "No route to host" or "Connection timed out") with no
 * body. The cluster's own views report the node `offline` and, its status data going stale,
 * its guests with status `unknown` (PVE::API2Tools extract_node_stats / extract_vm_stats).
 */
import { ProxyError } from "./errors.js";
import type { ClusterState, NodeState, VmState } from "./state.js";

export const DEFAULT_UNREACHABLE_ERROR = "Connection refused";

const UPLOAD_ROUTE = "POST /nodes/{node}/storage/{storage}/upload";

export function isOffline(node: NodeState | undefined): boolean {
  return node?.unreachable !== undefined;
}

/** Marks a node offline (with the connection error its proxy reports) or online again. */
export function setNodeOnline(state: ClusterState, node: string, online: boolean, error = DEFAULT_UNREACHABLE_ERROR): NodeState | undefined {
  const n = state.nodes[node];
  if (!n) return undefined;
  if (online) delete n.unreachable;
  else n.unreachable = error;
  return n;
}

/** The 595 a call to an offline node answers with; undefined when the call is not for one. */
export function proxyFailure(state: ClusterState, route: string, path: Record<string, string>): ProxyError | undefined {
  if (!/^\S+ \/nodes\/\{node\}\//.test(route)) return undefined;
  // An upload cannot be proxied (pve-manager refuses to): the receiving node copies the file over SSH.
  if (route === UPLOAD_ROUTE) return undefined;
  const node = state.nodes[path.node ?? ""];
  return node?.unreachable !== undefined ? new ProxyError(595, node.unreachable) : undefined;
}

/** A node entry of /nodes and /cluster/resources while the node is offline (no live stats). */
export function offlineNodeEntry(n: NodeState) {
  return { id: `node/${n.name}`, node: n.name, type: "node", status: "offline", level: "" };
}

/** A guest entry of /cluster/resources while its node is offline (its stats expired). */
export function unknownVmEntry(vm: VmState) {
  return { id: `qemu/${vm.vmid}`, vmid: vm.vmid, node: vm.node, type: "qemu", status: "unknown" };
}
