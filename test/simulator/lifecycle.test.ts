/**
 * The full VM lifecycle with the real bpg/proxmox provider and real tofu against the simulator:
 * clone from the template with CPU, memory, a resized and a second disk, a VLAN NIC, cloud-init
 * and the guest agent; a clean second plan; an in-place memory/CPU update; destroy.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { decodeSshKeys, parseDrive, parseIpConfig, parseNet } from "../../src/simulator/config-strings.js";
import { configDigest } from "../../src/simulator/vm-config.js";
import {
  SSH_KEY,
  api,
  clonedVm,
  expectNoUnknownRoutes,
  explain,
  initWorkdir,
  networkDevice,
  rewriteConfig,
  run,
  saveCalls,
  startTestSimulator,
  tfConfig,
  type TestSim,
} from "./harness.js";
import { tofu } from "../support/tofu.js";

const GiB = 1024 ** 3;

describe("VM lifecycle through tofu and the bpg provider", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  let dir: string;

  beforeAll(async () => {
    t = await startTestSimulator();
    dir = await initWorkdir(tfConfig({ web: clonedVm() }), t.env);
  });

  afterAll(async () => {
    await saveCalls(t, "lifecycle");
    await t.sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("applies, plans clean, updates in place and destroys", async () => {
    const started = Date.now();

    // ---- apply: clone + configure + start
    const apply = await run(dir, ["apply", "-auto-approve"], t.env);
    expect(apply.code, explain(apply)).toBe(0);
    expect(apply.stdout).toContain("1 added, 0 changed, 0 destroyed");

    const vms = Object.values(t.sim.state().vms).filter((vm) => vm.vmid !== 9000);
    expect(vms).toHaveLength(1);
    const vm = vms[0]!;
    const id = vm.vmid;
    const c = vm.conf;
    expect(vm.node).toBe("pve1");
    expect(vm.status).toBe("running");
    expect(vm.pending).toEqual({});
    expect(c.lock).toBeUndefined();
    expect(c.template).toBeUndefined();
    expect(c.name).toBe("web-1");
    expect(c.description).toBe("managed by ptm");
    expect(c.tags).toBe("ptm;test");
    expect(c.onboot).toBe("1");
    expect(c.cores).toBe("2");
    expect(c.sockets).toBe("1");
    expect(c.cpu).toBe("x86-64-v2-AES");
    expect(c.memory).toBe("2048");
    expect(c.agent).toMatch(/^enabled=1(,|$)/);
    expect(c.scsihw).toBe("virtio-scsi-single");

    const scsi0 = parseDrive(c.scsi0!);
    expect(scsi0.file).toBe(`local-lvm:vm-${id}-disk-0`);
    expect(scsi0.size).toBe("20G");
    const scsi1 = parseDrive(c.scsi1!);
    expect(scsi1.file).toBe(`local-lvm:vm-${id}-disk-1`);
    expect(scsi1.size).toBe("10G");
    const volumes = t.sim.state().storages["local-lvm"]!.volumes;
    expect(volumes[`vm-${id}-disk-0`]?.size).toBe(20 * GiB);
    expect(volumes[`vm-${id}-disk-1`]?.size).toBe(10 * GiB);
    expect(volumes["base-9000-disk-0"]?.size).toBe(3.5 * GiB); // the template's disk is untouched

    const net0 = parseNet(c.net0!);
    expect(net0.model).toBe("virtio");
    expect(net0.bridge).toBe("vmbr0");
    expect(net0.tag).toBe("10");
    expect(net0.macaddr).toMatch(/^BC:24:11(:[0-9A-F]{2}){3}$/);
    expect(net0.macaddr).not.toBe("BC:24:11:90:00:00"); // a clone always gets a new MAC

    expect(parseDrive(c.ide2!)).toMatchObject({ file: `local-lvm:vm-${id}-cloudinit`, media: "cdrom" });
    expect(c.ciuser).toBe("ubuntu");
    expect(decodeSshKeys(c.sshkeys!).trim()).toBe(SSH_KEY);
    expect(parseIpConfig(c.ipconfig0!)).toEqual({ ip: "192.168.10.20/24", gw: "192.168.10.1" });
    expect(c.nameserver).toBe("1.1.1.1 8.8.8.8");
    expect(c.searchdomain).toBe("example.internal");

    // what the API shows matches the stored config, digest included
    const cfg = (await api(t, "GET", `/nodes/pve1/qemu/${id}/config`)).body as { data: Record<string, unknown> };
    expect(cfg.data.digest).toBe(configDigest(vm));
    expect(cfg.data.cores).toBe(2);
    expect(cfg.data.onboot).toBe(1);
    expect(cfg.data.memory).toBe("2048");

    // the agent reported the static address, which the provider put into its state
    const show = await tofu(dir, ["show", "-json", "-no-color"], t.env);
    const values = JSON.parse(show.stdout).values.root_module.resources[0].values;
    expect(values.vm_id).toBe(id);
    expect(values.ipv4_addresses).toContainEqual(["192.168.10.20"]);
    expect(values.mac_addresses).toContain(net0.macaddr);

    // ---- a second plan finds nothing to do
    const plan = await run(dir, ["plan", "-detailed-exitcode"], t.env);
    expect(plan.code, explain(plan)).toBe(0);

    // ---- update memory and cores: in place, same VMID
    await rewriteConfig(dir, tfConfig({ web: clonedVm({ cpu: { cores: 4, type: "x86-64-v2-AES" }, memory: { dedicated: 4096 } }) }));
    const update = await run(dir, ["apply", "-auto-approve"], t.env);
    expect(update.code, explain(update)).toBe(0);
    expect(update.stdout).toContain("0 added, 1 changed, 0 destroyed");
    const after = t.sim.state().vms[id]!;
    expect(Object.keys(t.sim.state().vms).sort()).toEqual([String(id), "9000"].sort());
    expect(after.conf.memory).toBe("4096");
    expect(after.conf.cores).toBe("4");
    expect(after.pending).toEqual({});
    expect(after.status).toBe("running");
    expect(after.conf.net0).toBe(c.net0); // the NIC (and its MAC) survived the update

    const plan2 = await run(dir, ["plan", "-detailed-exitcode"], t.env);
    expect(plan2.code, explain(plan2)).toBe(0);

    // ---- destroy: the VM and its volumes are gone
    const destroy = await run(dir, ["destroy", "-auto-approve"], t.env);
    expect(destroy.code, explain(destroy)).toBe(0);
    expect(t.sim.state().vms[id]).toBeUndefined();
    const left = Object.keys(t.sim.state().storages["local-lvm"]!.volumes);
    expect(left.filter((v) => v.includes(`-${id}-`))).toEqual([]);
    expect(left.sort()).toEqual(["base-9000-disk-0", "vm-9000-cloudinit"]);

    const elapsed = Date.now() - started;
    console.log(`[lifecycle] apply -> plan-clean -> update -> plan-clean -> destroy took ${elapsed} ms`);
    expectNoUnknownRoutes(t);
  });

  it("creates a VM from scratch (no clone), plans clean and destroys it", async () => {
    const scratch = await initWorkdir(
      tfConfig({
        scratch: {
          name: "scratch-1",
          node_name: "pve1",
          vm_id: 300,
          cpu: { cores: 2 },
          memory: { dedicated: 1024 },
          operating_system: { type: "l26" },
          disk: [{ datastore_id: "local-lvm", interface: "scsi0", size: 16 }],
          network_device: [networkDevice()],
          started: true,
        },
      }),
      t.env,
    );
    try {
      const apply = await run(scratch, ["apply", "-auto-approve"], t.env);
      expect(apply.code, explain(apply)).toBe(0);
      const vm = t.sim.state().vms[300]!;
      expect(vm.status).toBe("running");
      expect(parseDrive(vm.conf.scsi0!)).toMatchObject({ file: "local-lvm:vm-300-disk-0", size: "16G" });
      expect(vm.conf.meta).toMatch(/^creation-qemu=/);
      const plan = await run(scratch, ["plan", "-detailed-exitcode"], t.env);
      expect(plan.code, explain(plan)).toBe(0);
      const destroy = await run(scratch, ["destroy", "-auto-approve"], t.env);
      expect(destroy.code, explain(destroy)).toBe(0);
      expect(t.sim.state().vms[300]).toBeUndefined();
      expectNoUnknownRoutes(t);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
