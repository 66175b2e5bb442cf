import { describe, expect, it } from "vitest";
import { ProxmoxVMSpecSchema } from "../api/proxmox-vm.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import { outputData } from "./output-writer.js";

const vm = { metadata: { name: "web", namespace: "apps", uid: "u1" }, spec: {}, status: { vmId: 120 } } as unknown as ProxmoxVMObject;
const spec = ProxmoxVMSpecSchema.parse({ connectionRef: { name: "pve" }, nodeName: "pve1", clone: { vmId: 9000 } });
const outputs = {
  vm_id: 120,
  node_name: "pve2",
  ipv4_addresses: ["192.0.2.5", "198.51.100.7"],
  ipv6_addresses: ["2001:db8::5"],
  mac_addresses: ["00:00:00:00:00:00", "BC:24:11:00:00:01"],
};

describe("outputData", () => {
  it("joins lists with commas and drops the loopback interface's all-zero MAC", () => {
    expect(outputData(vm, spec, outputs)).toEqual({
      vm_id: "120",
      node: "pve2",
      name: "web",
      ipv4_addresses: "192.0.2.5,198.51.100.7",
      ipv6_addresses: "2001:db8::5",
      mac_addresses: "BC:24:11:00:00:01",
    });
  });

  it("keeps only the chosen keys, names the VM as Proxmox does, and falls back to the spec and status", () => {
    const named = { ...spec, name: "web.lab" };
    expect(outputData(vm, named, {}, ["name", "node", "vm_id", "ipv4_addresses"])).toEqual({ name: "web.lab", node: "pve1", vm_id: "120", ipv4_addresses: "" });
  });
});
