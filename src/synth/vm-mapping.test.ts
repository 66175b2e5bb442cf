import { describe, expect, it } from "vitest";
import { NETWORK_DEVICE_MEMBERS } from "../../stacks/proxmox/vm-to-terraform.js";
import { full, matrix, minimal, spec, SSH_KEY, synthesisInput } from "../../test/synth/vm-specs.js";
import { synthesizeVmStack } from "./synthesize.js";

function vmOf(config: Record<string, unknown>): Record<string, unknown> {
  const resources = config.resource as Record<string, Record<string, Record<string, unknown>>>;
  return resources.proxmox_virtual_environment_vm!.vm!;
}

/** The VM's attributes from the spec, without the lifecycle block every stack carries (tested apart). */
function specAttributesOf(config: Record<string, unknown>): Record<string, unknown> {
  const vm = { ...vmOf(config) };
  expect((vm.lifecycle as { prevent_destroy?: boolean } | undefined)?.prevent_destroy).toBe(true);
  delete vm.lifecycle;
  return vm;
}

/** A network_device entry as synthesized: every provider member present, unset ones null. */
function nic(set: Record<string, unknown>): Record<string, unknown> {
  return { ...Object.fromEntries(NETWORK_DEVICE_MEMBERS.map((m) => [m, null])), ...set };
}

describe("spec → proxmox_virtual_environment_vm", () => {
  it("maps every field of a full spec one to one", () => {
    const vm = specAttributesOf(synthesizeVmStack(synthesisInput(full)).config);
    expect(vm).toEqual({
      node_name: "pve1",
      vm_id: 4321,
      name: "web-1.example",
      description: "managed by ptm\nsecond line",
      tags: ["prod", "web"],
      clone: { vm_id: 9000, node_name: "pve2", full: true, datastore_id: "fast-ssd" },
      cpu: { cores: 4, sockets: 2, type: "x86-64-v2-AES" },
      memory: { dedicated: 4096, floating: 2048 },
      disk: [
        { interface: "scsi0", datastore_id: "local-lvm", size: 40, file_format: "raw", ssd: true, discard: "on", iothread: true },
      ],
      network_device: [
        nic({ bridge: "vmbr1", model: "e1000", vlan_id: 42, mac_address: "BC:24:11:00:00:01", firewall: true, mtu: 9000 }),
      ],
      initialization: {
        datastore_id: "local-lvm",
        user_account: { username: "ubuntu", keys: [SSH_KEY], password: "${var.cloud_init_password}" },
        ip_config: [{ ipv4: { address: "192.0.2.10/24", gateway: "192.0.2.1" } }],
        dns: { servers: ["192.0.2.53", "1.1.1.1"], domain: "example.internal" },
      },
      agent: { enabled: true, timeout: "15m" },
      started: false,
      on_boot: false,
      protection: true,
      pool_id: "web",
    });
  });

  it("omits everything the spec omits and names the VM after metadata.name", () => {
    const vm = specAttributesOf(synthesizeVmStack(synthesisInput(minimal, { name: "db-0" })).config);
    expect(vm).toEqual({ node_name: "pve1", name: "db-0", clone: { vm_id: 9000 } });
  });

  it("keeps explicit false, zero and empty blocks (they differ from omission)", () => {
    const vm = vmOf(synthesizeVmStack(synthesisInput(matrix["static IPs and empty blocks"]!)).config);
    expect(vm.cpu).toEqual({});
    expect(vm.memory).toEqual({ dedicated: 64, floating: 0 });
    expect(vm.initialization).toEqual({
      user_account: { keys: [SSH_KEY] },
      ip_config: [{ ipv4: { address: "10.0.0.2/8", gateway: "10.0.0.1" } }, { ipv4: { address: "172.16.0.2/12" } }],
      dns: { servers: ["10.0.0.1"] },
    });
    const dhcp = vmOf(synthesizeVmStack(synthesisInput(matrix.dhcp!)).config);
    expect((dhcp.initialization as Record<string, unknown>).ip_config).toEqual([{ ipv4: { address: "dhcp" } }, {}]);
  });

  it("writes every network_device member, null when unset (JSON has no block syntax for it)", () => {
    const vm = vmOf(synthesizeVmStack(synthesisInput(matrix["multiple disks and NICs"]!)).config);
    expect(vm.network_device).toEqual([
      nic({ bridge: "vmbr0" }),
      nic({ bridge: "vmbr1", vlan_id: 100 }),
      nic({ bridge: "vmbr2", model: "vmxnet3", mtu: 1 }),
    ]);
  });

  it("keeps disks and NICs in spec order", () => {
    const vm = vmOf(synthesizeVmStack(synthesisInput(matrix["multiple disks and NICs"]!)).config);
    expect((vm.disk as { interface: string }[]).map((d) => d.interface)).toEqual(["scsi0", "scsi1", "virtio2", "sata0"]);
    expect((vm.network_device as { bridge: string }[]).map((n) => n.bridge)).toEqual(["vmbr0", "vmbr1", "vmbr2"]);
  });

  it("sorts and de-duplicates tags (a set in the CRD; the provider ignores their order)", () => {
    const vm = vmOf(synthesizeVmStack(synthesisInput(spec({ nodeName: "pve1", clone: { vmId: 9000 }, tags: ["b", "a", "b"] }))).config);
    expect(vm.tags).toEqual(["a", "b"]);
  });

  it("uses the pinned vmId over spec.vmId, and spec.vmId when nothing is pinned", () => {
    expect(vmOf(synthesizeVmStack(synthesisInput(full, { vmId: 777 })).config).vm_id).toBe(777);
    expect(vmOf(synthesizeVmStack(synthesisInput(full)).config).vm_id).toBe(4321);
    expect(vmOf(synthesizeVmStack(synthesisInput(minimal, { vmId: 555 })).config).vm_id).toBe(555);
  });

  it("writes the password only as a variable reference, without a password ref no user password at all", () => {
    const withRef = vmOf(synthesizeVmStack(synthesisInput(matrix["cloud-init with password variable"]!)).config);
    expect(withRef.initialization).toEqual({ user_account: { username: "admin", password: "${var.cloud_init_password}" } });
    const keysOnly = vmOf(synthesizeVmStack(synthesisInput(matrix["static IPs and empty blocks"]!)).config);
    expect(JSON.stringify(keysOnly)).not.toContain("password");
  });
});
