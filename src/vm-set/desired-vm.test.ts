import { describe, expect, it } from "vitest";
import { ProxmoxVMSetSpecSchema, type ProxmoxVMSetSpecInput } from "../api/proxmox-vm-set.js";
import { desiredVm, poolAddress, poolSize } from "./desired-vm.js";

const set = { metadata: { name: "web", namespace: "apps", uid: "uid-1" } };

function spec(extra: Partial<ProxmoxVMSetSpecInput> = {}) {
  return ProxmoxVMSetSpecSchema.parse({
    replicas: 3,
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        connectionRef: { name: "pve" },
        nodeName: "pve1",
        clone: { vmId: 9000 },
        initialization: { ipConfigs: [{ ipv4: { address: "dhcp" } }, { ipv4: { address: "dhcp" } }] },
      },
    },
    ...extra,
  });
}

describe("desiredVm", () => {
  it("names by ordinal, spreads over nodes round robin and labels each VM with its set and ordinal", () => {
    const s = spec({ nodes: ["a", "b"], namePattern: "{set}-node-{ordinal}" });
    const vms = [0, 1, 2].map((i) => desiredVm(set, s, i)).map((o) => (o.kind === "vm" ? o.vm : undefined)!);
    expect(vms.map((v) => [v.name, v.spec.nodeName])).toEqual([
      ["web-node-0", "a"],
      ["web-node-1", "b"],
      ["web-node-2", "a"],
    ]);
    expect(vms[1]!.labels).toEqual({ app: "web", "proxmox.terraform-manager.dev/vm-set": "web", "proxmox.terraform-manager.dev/vm-set-ordinal": "1" });
    expect(vms[0]!.ownerReference).toMatchObject({ kind: "ProxmoxVMSet", name: "web", uid: "uid-1", controller: true });
  });

  it("puts the pool's address for the ordinal into the first ipConfig only, and stops at the pool's end", () => {
    const s = spec({ ipv4Pool: { start: "10.0.0.254", end: "10.0.1.0", prefix: 23, gateway: "10.0.0.1" } });
    const first = desiredVm(set, s, 1);
    expect(first.kind === "vm" && first.vm.spec.initialization?.ipConfigs).toEqual([{ ipv4: { address: "10.0.0.255/23", gateway: "10.0.0.1" } }, { ipv4: { address: "dhcp" } }]);
    const third = desiredVm(set, s, 2);
    expect(third.kind === "vm" && third.vm.spec.initialization?.ipConfigs?.[0]?.ipv4?.address).toBe("10.0.1.0/23");
    expect(desiredVm(set, s, 3)).toMatchObject({ kind: "pool-exhausted", message: expect.stringContaining("ipv4Pool has 3 addresses") });
  });

  it("changes the hash with the template and keeps it for the same template", () => {
    const hash = (s: ReturnType<typeof spec>, i = 0) => {
      const o = desiredVm(set, s, i);
      return o.kind === "vm" ? o.vm.hash : undefined;
    };
    expect(hash(spec())).toBe(hash(spec()));
    expect(hash(spec())).not.toBe(hash(spec(), 1));
    const changed = spec();
    changed.template.spec.memory = { dedicated: 2048 };
    expect(hash(changed)).not.toBe(hash(spec()));
  });
});

describe("ipv4 pool", () => {
  it("counts addresses by count or by end", () => {
    expect(poolSize({ start: "192.0.2.10", count: 5, prefix: 24 })).toBe(5);
    expect(poolSize({ start: "192.0.2.10", end: "192.0.2.9", prefix: 24 })).toBe(0);
    expect(poolAddress({ start: "192.0.2.10", count: 5, prefix: 24 }, 4)).toBe("192.0.2.14");
    expect(poolAddress({ start: "192.0.2.10", count: 5, prefix: 24 }, 5)).toBeUndefined();
    expect(poolSize({ start: "255.255.255.254", count: 10, prefix: 24 })).toBe(2);
  });
});
