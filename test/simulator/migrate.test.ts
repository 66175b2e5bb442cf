/** POST /nodes/{node}/qemu/{vmid}/migrate, as qemu-server's migrate_vm checks and runs it. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SEED } from "../../src/simulator/index.js";
import { setNodeOnline } from "../../src/simulator/node-reachability.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, startTestSimulator, waitTask, type TestSim } from "./harness.js";

const LIMITED = { id: "ptm@pve!limited", secret: "55555555-5555-5555-5555-555555555555" };

describe("VM migration", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({
      config: {
        ...DEFAULT_SEED,
        nodes: [...DEFAULT_SEED.nodes, { name: "pve2" }, { name: "pve3" }],
        storages: [...(DEFAULT_SEED.storages ?? []), { id: "pve1-only", type: "lvmthin", content: ["images"], sizeGiB: 50, nodes: ["pve1"] }],
        tokens: [{ id: "root@pam!admin", secret: "44444444-4444-4444-4444-444444444444", privsep: false }, LIMITED],
        users: [{ id: "ptm@pve" }],
        roles: [{ id: "NoMigrate", privs: ["VM.Audit", "VM.PowerMgmt"] }],
        acl: [{ path: "/", role: "NoMigrate", token: LIMITED.id }],
        vms: [
          { vmid: 200, node: "pve1", config: { name: "stopped", scsi0: "local-lvm:vm-200-disk-0,size=4G" } },
          { vmid: 201, node: "pve1", status: "running", config: { name: "running", scsi0: "local-lvm:vm-201-disk-0,size=4G" } },
          { vmid: 202, node: "pve1", config: { name: "pinned", scsi0: "pve1-only:vm-202-disk-0,size=4G" } },
          { vmid: 203, node: "pve1", config: { name: "stranded", scsi0: "local-lvm:vm-203-disk-0,size=4G" } },
        ],
      },
    });
  });
  afterAll(() => t?.sim.close());

  const migrate = (vmid: number, body: Record<string, string>, token?: string) => api(t, "POST", `/nodes/pve1/qemu/${vmid}/migrate`, body, token);
  const errorsOf = (res: { body: unknown }) => (res.body as { errors?: Record<string, string> }).errors;

  it("moves a stopped VM and its volumes to the target node in a qmigrate task", async () => {
    const before = t.sim.state().vms[200]!.conf.scsi0;
    const res = await migrate(200, { target: "pve2" });
    expect(res.status).toBe(200);
    const upid = (res.body as { data: string }).data;
    expect(upid).toMatch(/^UPID:pve1:[0-9A-F]+:[0-9A-F]+:[0-9A-F]+:qmigrate:200:/);
    expect((await waitTask(t, "pve1", upid)).exitstatus).toBe("OK");
    const vm = t.sim.state().vms[200]!;
    expect(vm.node).toBe("pve2");
    expect(vm.conf.scsi0).toBe(before);
    expect(vm.conf.lock).toBeUndefined();
    expect((await api(t, "GET", "/nodes/pve2/qemu/200/config")).status).toBe(200);
    expect((await api(t, "GET", "/nodes/pve1/qemu/200/config")).status).toBe(500);
  });

  it("refuses what qemu-server refuses, before any task", async () => {
    expect(errorsOf(await migrate(201, { target: "pve1" }))).toEqual({ target: "target is local node." });
    const unknown = await migrate(201, { target: "pve9" });
    expect([unknown.status, unknown.statusMessage]).toEqual([500, "no such cluster node 'pve9'"]);
    const running = await migrate(201, { target: "pve3" });
    expect(running.statusMessage).toBe("can't migrate running VM without --online");
    const localDisks = await migrate(201, { target: "pve3", online: "1" });
    expect(localDisks.statusMessage).toBe("can't live migrate attached local disks without with-local-disks option");
    const pinned = await migrate(202, { target: "pve3" });
    expect(pinned.statusMessage).toBe("storage 'pve1-only' is not available on node 'pve3'");
    expect(t.sim.state().vms[201]!.node).toBe("pve1");
    expect(t.sim.state().vms[202]!.node).toBe("pve1");
  });

  it("live-migrates a running VM with its local disks when asked to", async () => {
    const res = await migrate(201, { target: "pve3", online: "1", "with-local-disks": "1" });
    expect((await waitTask(t, "pve1", (res.body as { data: string }).data)).exitstatus).toBe("OK");
    expect(t.sim.state().vms[201]).toMatchObject({ node: "pve3", status: "running" });
  });

  it("has no HA-managed guests: reading one HA resource fails as for an unconfigured service", async () => {
    expect((await api(t, "GET", "/cluster/ha/resources")).body).toEqual({ data: [] });
    const one = await api(t, "GET", "/cluster/ha/resources/vm:200");
    expect([one.status, one.statusMessage]).toEqual([500, "no such resource 'vm:200'"]);
    expect((await api(t, "GET", "/cluster/ha/resources/200")).statusMessage).toBe("no such resource 'vm:200'");
  });

  it("needs VM.Migrate on the VM", async () => {
    const res = await migrate(202, { target: "pve2" }, `${LIMITED.id}=${LIMITED.secret}`);
    expect([res.status, res.statusMessage]).toEqual([403, "Permission check failed (/vms/202, VM.Migrate)"]);
  });

  it("fails the task when the target node cannot be reached", async () => {
    setNodeOnline(t.sim.state(), "pve2", false);
    try {
      const res = await migrate(203, { target: "pve2" });
      expect(res.status).toBe(200);
      const done = await waitTask(t, "pve1", (res.body as { data: string }).data);
      expect(done.exitstatus).toBe("Can't connect to destination address using public key");
      expect(t.sim.state().vms[203]!.node).toBe("pve1");
      expect(t.sim.state().vms[203]!.conf.lock).toBeUndefined();
    } finally {
      setNodeOnline(t.sim.state(), "pve2", true);
    }
  });
});
