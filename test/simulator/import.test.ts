/**
 * `tofu import` of a VM that was made outside tofu (through the API, the way a person would
 * with the web UI), then a plan of a matching config finds no changes.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import {
  api,
  expectNoUnknownRoutes,
  explain,
  initWorkdir,
  networkDevice,
  run,
  saveCalls,
  startTestSimulator,
  tfConfig,
  waitTask,
  type TestSim,
} from "./harness.js";

describe("tofu import of an existing VM", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  let dir: string;

  beforeAll(async () => {
    t = await startTestSimulator();
    const clone = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "150", name: "legacy-db", full: "1" });
    expect(clone.status).toBe(200);
    expect((await waitTask(t, "pve1", (clone.body as { data: string }).data)).exitstatus).toBe("OK");
    const put = await api(t, "PUT", "/nodes/pve1/qemu/150/config", {
      memory: "4096",
      cores: "2",
      onboot: "1",
      net0: "virtio,bridge=vmbr0,firewall=1",
      ipconfig0: "ip=dhcp",
      ciuser: "admin",
      tags: "db;legacy",
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const resize = await api(t, "PUT", "/nodes/pve1/qemu/150/resize", { disk: "scsi0", size: "8G" });
    expect((await waitTask(t, "pve1", (resize.body as { data: string }).data)).exitstatus).toBe("OK");
    const start = await api(t, "POST", "/nodes/pve1/qemu/150/status/start");
    expect((await waitTask(t, "pve1", (start.body as { data: string }).data)).exitstatus).toBe("OK");
  });

  afterAll(async () => {
    await saveCalls(t, "import");
    await t.sim.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("imports VM 150 and then plans no changes", async () => {
    const config = tfConfig({
      db: {
        name: "legacy-db",
        node_name: "pve1",
        vm_id: 150,
        tags: ["db", "legacy"],
        cpu: { cores: 2, type: "x86-64-v2-AES" },
        memory: { dedicated: 4096 },
        agent: { enabled: true },
        scsi_hardware: "virtio-scsi-single",
        operating_system: { type: "l26" },
        boot_order: ["scsi0"],
        serial_device: [{ device: "socket" }],
        vga: { type: "serial0" },
        disk: [{ datastore_id: "local-lvm", interface: "scsi0", size: 8, discard: "on" }],
        network_device: [networkDevice({ firewall: true })],
        initialization: { datastore_id: "local-lvm", user_account: { username: "admin" }, ip_config: [{ ipv4: { address: "dhcp" } }] },
      },
    });
    dir = await initWorkdir(config, t.env);
    const imported = await run(dir, ["import", "proxmox_virtual_environment_vm.db", "pve1/150"], t.env);
    expect(imported.code, explain(imported)).toBe(0);
    expect(imported.stdout).toContain("Import successful");

    const plan = await run(dir, ["plan", "-detailed-exitcode"], t.env);
    expect(plan.code, explain(plan)).toBe(0);
    expect(plan.stdout).toContain("No changes");

    // importing does not touch the VM
    const vm = t.sim.state().vms[150]!;
    expect(vm.status).toBe("running");
    expect(vm.conf.name).toBe("legacy-db");
    expectNoUnknownRoutes(t);
  });
});
