import { describe, expect, it } from "vitest";
import type { VmView } from "../events/views.js";
import type { ConnectionView } from "../http/connection-view.js";
import { toVmRow, vmTable } from "./vm-rows.js";

const now = Date.parse("2026-12-03T12:00:00Z");
const vm = (name: string, over: Partial<VmView> = {}): VmView => ({
  namespace: "lab",
  name,
  uid: `uid-${name}`,
  generation: 2,
  creationTimestamp: "2026-12-03T11:59:00Z",
  nodeName: "pve1",
  connectionName: "pve",
  status: {
    state: "Running",
    vmId: 100,
    node: "pve2",
    ipAddresses: ["192.0.2.20", "fe80::1"],
    observedGeneration: 2,
    conditions: [{ type: "Ready", status: "True", reason: "Provisioned", message: "ok", lastTransitionTime: "2026-12-03T11:59:30Z" }],
    lastRun: { id: "r", action: "apply", result: "succeeded" },
  },
  ...over,
});
const connection = (name: string, ready: ConnectionView["ready"]): ConnectionView => ({
  namespace: "lab",
  name,
  endpoint: "https://pve:8006",
  version: "8.3",
  ready,
  nodeCount: 2,
  nodesOnline: 2,
  lastCheckTime: null,
});

describe("VM rows", () => {
  it("join each VM with its own connection's health", () => {
    const connections = [
      connection("pve", { status: "True", reason: "Connected", message: "ok", lastTransitionTime: null }),
      connection("lab2", { status: "False", reason: "Unreachable", message: "connect ECONNREFUSED", lastTransitionTime: null }),
    ];
    const rows = [toVmRow(vm("web"), connections), toVmRow(vm("db", { connectionName: "lab2", status: {} }), connections), toVmRow(vm("old", { connectionName: "gone" }), connections)];
    expect(rows.map((r) => r.connection)).toEqual([
      { name: "pve", ready: "True", reason: "Connected", message: "ok" },
      { name: "lab2", ready: "False", reason: "Unreachable", message: "connect ECONNREFUSED" },
      { name: "gone", ready: "Unknown", reason: "NotFound", message: "no ProxmoxConnection lab/gone" },
    ]);
    // The node Proxmox reports, else the one the spec names.
    expect(rows.map((r) => r.node)).toEqual(["pve2", "pve1", "pve2"]);
    expect(toVmRow(vm("web"), undefined).connection).toMatchObject({ ready: "Unknown", reason: "NotRead" });

    expect(vmTable(rows, { wide: false, showNamespace: false, now })).toBe(
      [
        "NAME   NODE   VMID     STATE     IP           READY     CONNECTION           AGE",
        "web    pve2   100      Running   192.0.2.20   True      pve (Ready)          60s",
        "db     pve1   <none>   <none>    <none>       Unknown   lab2 (Unreachable)   60s",
        "old    pve2   100      Running   192.0.2.20   True      gone (NotFound)      60s",
        "",
      ].join("\n"),
    );
    const wide = vmTable([rows[0]!], { wide: true, showNamespace: true, now });
    expect(wide.split("\n")[0]).toBe("NAMESPACE   NAME   NODE   VMID   STATE     IP                   READY   CONNECTION    AGE   REASON        GENERATION   LAST RUN          MESSAGE");
    expect(wide).toContain("192.0.2.20,fe80::1");
    expect(wide).toContain("apply succeeded");
  });
});
