import type { VmView } from "../events/views.js";
import type { ConnectionView } from "../http/connection-view.js";
import { age, none, table } from "./output.js";

/** One VM as `get` shows it: the sidecar's view joined with its connection's health. */
export interface VmRow {
  namespace: string;
  name: string;
  node: string | null;
  vmId: number | null;
  state: string | null;
  ipAddresses: string[];
  ready: { status: string; reason: string; message: string } | null;
  connection: { name: string; ready: string; reason: string; message: string } | null;
  lastRun: VmView["status"]["lastRun"] | null;
  generation: number;
  observedGeneration: number | null;
  creationTimestamp: string | null;
}

/** `connections` undefined: their health could not be read (it shows as unknown). */
export function toVmRow(vm: VmView, connections: readonly ConnectionView[] | undefined): VmRow {
  const ready = vm.status.conditions?.find((c) => c.type === "Ready");
  const connectionName = vm.connectionName ?? null;
  const connection = connectionName === null ? undefined : connections?.find((c) => c.namespace === vm.namespace && c.name === connectionName);
  return {
    namespace: vm.namespace,
    name: vm.name,
    node: vm.status.node ?? vm.nodeName,
    vmId: vm.status.vmId ?? null,
    state: vm.status.state ?? null,
    ipAddresses: vm.status.ipAddresses ?? [],
    ready: ready ? { status: ready.status, reason: ready.reason, message: ready.message } : null,
    connection:
      connectionName === null
        ? null
        : connection
          ? { name: connectionName, ready: connection.ready.status, reason: connection.ready.reason, message: connection.ready.message }
          : { name: connectionName, ready: "Unknown", reason: connections ? "NotFound" : "NotRead", message: connections ? `no ProxmoxConnection ${vm.namespace}/${connectionName}` : "the connections could not be read" },
    lastRun: vm.status.lastRun ?? null,
    generation: vm.generation,
    observedGeneration: vm.status.observedGeneration ?? null,
    creationTimestamp: vm.creationTimestamp,
  };
}

/** "pve (Ready)", "pve (Unreachable)": the connection and how its last check went. */
export function connectionHealth(c: VmRow["connection"]): string {
  if (!c) return "<none>";
  return `${c.name} (${c.ready === "True" ? "Ready" : c.reason})`;
}

export function vmTable(rows: readonly VmRow[], o: { wide: boolean; showNamespace: boolean; now: number }): string {
  const headers = [...(o.showNamespace ? ["NAMESPACE"] : []), "NAME", "NODE", "VMID", "STATE", "IP", "READY", "CONNECTION", "AGE"];
  if (o.wide) headers.push("REASON", "GENERATION", "LAST RUN", "MESSAGE");
  const cells = rows.map((r) => {
    const row = [
      ...(o.showNamespace ? [r.namespace] : []),
      r.name,
      none(r.node),
      none(r.vmId),
      none(r.state),
      none(o.wide ? r.ipAddresses.join(",") : r.ipAddresses[0]),
      r.ready?.status ?? "Unknown",
      connectionHealth(r.connection),
      age(r.creationTimestamp, o.now),
    ];
    if (o.wide) {
      row.push(
        none(r.ready?.reason),
        `${r.observedGeneration ?? "-"}/${r.generation}`,
        r.lastRun ? `${r.lastRun.action} ${r.lastRun.result}` : "<none>",
        none(oneLine(r.ready?.status === "True" ? "" : (r.ready?.message ?? ""))),
      );
    }
    return row;
  });
  return table(headers, cells);
}

/** Messages may span lines; a table cell may not. */
export function oneLine(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
