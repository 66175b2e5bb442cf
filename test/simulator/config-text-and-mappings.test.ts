/**
 * Free text in VM configs reads back as qemu-server writes and parses it (the description's
 * trailing whitespace and empty lines go), and the cluster's resource mappings
 * (/cluster/mapping/{dir,pci,usb}) are kept and listed as pve-manager does, and checked when
 * VMs use them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, expectNoUnknownRoutes, startTestSimulator, waitTask, type TestSim } from "./harness.js";

type Body = { data: unknown; message?: string; errors?: Record<string, string> };
const data = <T>(res: { body: unknown }) => (res.body as { data: T }).data;

describe("config text and resource mappings", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({
      config: {
        nodes: [{ name: "pve1" }, { name: "pve2" }],
        storages: [{ id: "local-lvm", type: "lvmthin", content: ["images"] }],
        vms: [{ vmid: 100, node: "pve1", config: { name: "a", memory: "512" } }],
      },
    });
  });

  afterEach(async () => {
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
  });

  it("reads a description back without trailing whitespace, as the config file keeps it", async () => {
    const put = await api(t, "PUT", "/nodes/pve1/qemu/100/config", { description: "\nManaged by ptm\nowner: ops  \n\n" });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const conf = data<Record<string, string>>(await api(t, "GET", "/nodes/pve1/qemu/100/config"));
    expect(conf.description).toBe("\nManaged by ptm\nowner: ops");

    // Writing what was read back changes nothing (no false drift for `description: |`).
    const before = conf.digest;
    await api(t, "PUT", "/nodes/pve1/qemu/100/config", { description: "\nManaged by ptm\nowner: ops\n" });
    expect(data<Record<string, string>>(await api(t, "GET", "/nodes/pve1/qemu/100/config")).digest).toBe(before);
  });

  it("keeps directory mappings: create, list with node checks, read, update, delete", async () => {
    const created = await api(t, "POST", "/cluster/mapping/dir", { id: "shared", map: "node=pve1,path=/mnt/shared", description: "team share" });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const again = await api(t, "POST", "/cluster/mapping/dir", { id: "shared", map: "node=pve1,path=/x" });
    expect([again.status, again.statusMessage]).toEqual([500, "dir ID 'shared' already defined"]);
    const invalid = await api(t, "POST", "/cluster/mapping/dir", { id: "broken", map: "node=pve1" });
    expect(invalid.status).toBe(400);
    expect((invalid.body as Body).errors?.map).toContain("path");

    const listed = data<Array<Record<string, unknown>>>(await api(t, "GET", "/cluster/mapping/dir?check-node=pve2"));
    expect(listed).toEqual([
      { id: "shared", type: "dir", map: ["node=pve1,path=/mnt/shared"], description: "team share", digest: expect.stringMatching(/^[0-9a-f]{40}$/), checks: [{ severity: "warning", message: "No mapping for node pve2." }] },
    ]);

    const updated = await api(t, "PUT", "/cluster/mapping/dir/shared", { map: "node=pve1,path=/mnt/shared", delete: "description" });
    expect(updated.status).toBe(200);
    expect(data(await api(t, "GET", "/cluster/mapping/dir/shared"))).toEqual({ type: "dir", map: ["node=pve1,path=/mnt/shared"], digest: expect.any(String) });

    const vm = await api(t, "PUT", "/nodes/pve1/qemu/100/config", { virtiofs0: "shared,cache=always,direct-io=1" });
    expect(vm.status, JSON.stringify(vm.body)).toBe(200);
    expect(data<Record<string, string>>(await api(t, "GET", "/nodes/pve1/qemu/100/config")).virtiofs0).toBe("shared,cache=always,direct-io=1");

    expect((await api(t, "DELETE", "/cluster/mapping/dir/shared")).status).toBe(200);
    const gone = await api(t, "GET", "/cluster/mapping/dir/shared");
    expect([gone.status, gone.statusMessage]).toEqual([500, "mapping 'shared' not found"]);
  });

  it("keeps PCI and USB mappings with their per-node entries", async () => {
    const pci = await api(t, "POST", "/cluster/mapping/pci", { id: "gpu", map: "node=pve1,path=0000:01:00.0,id=10de:1eb8", mdev: "1" });
    expect(pci.status, JSON.stringify(pci.body)).toBe(200);
    const usb = await api(t, "POST", "/cluster/mapping/usb", { id: "dongle", map: "node=pve1,id=0781:5567" });
    expect(usb.status, JSON.stringify(usb.body)).toBe(200);
    expect(data(await api(t, "GET", "/cluster/mapping/pci/gpu"))).toMatchObject({ type: "pci", mdev: 1, map: ["node=pve1,path=0000:01:00.0,id=10de:1eb8"] });
    expect(data<Array<{ id: string }>>(await api(t, "GET", "/cluster/mapping/usb")).map((m) => m.id)).toEqual(["dongle"]);
    expect(data(await api(t, "GET", "/cluster/mapping"))).toEqual([{ name: "dir" }, { name: "pci" }, { name: "usb" }]);
  });
});

/**
 * VMs that use mappings: hostpciN/usbN/virtiofsN values are checked on create, update, delete
 * and clone as qemu-server's check_{hostpci,usb,dir}_perm / check_mapping_access do (Mapping.Use
 * on /mapping/<kind>/<id>, real devices root's only), and resolved when the VM starts.
 */
describe("resource mappings in use by VMs", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const ADMIN = "root@pam!admin=77777777-7777-4777-8777-777777777777";
  const DEV = "dev@pve!vm=88888888-8888-4888-8888-888888888888";
  const as = (token: string, method: string, apiPath: string, body?: Record<string, string>) => api(t, method, apiPath, body, token);

  beforeAll(async () => {
    t = await startTestSimulator({
      config: {
        nodes: [{ name: "pve1" }, { name: "pve2" }],
        storages: [{ id: "local-lvm", type: "lvmthin", content: ["images"] }],
        tokens: [
          { id: "root@pam!admin", secret: "77777777-7777-4777-8777-777777777777", privsep: false },
          { id: "dev@pve!vm", secret: "88888888-8888-4888-8888-888888888888", privsep: false },
        ],
        users: [{ id: "dev@pve" }],
        roles: [{ id: "MappingUser", privs: ["Mapping.Use"] }],
        acl: [
          { path: "/vms", role: "PVEVMAdmin", user: "dev@pve" },
          { path: "/mapping/pci/gpu", role: "MappingUser", user: "dev@pve" },
          { path: "/mapping/usb/dongle", role: "MappingUser", user: "dev@pve" },
          { path: "/mapping/dir/share", role: "MappingUser", user: "dev@pve" },
        ],
        vms: [
          { vmid: 100, node: "pve1", config: { name: "a", memory: "512" } },
          { vmid: 200, node: "pve1", config: { name: "src", memory: "512", hostpci0: "mapping=secret" } },
        ],
      },
    });
  });

  afterEach(async () => {
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
  });

  const refusal = (res: { status: number; statusMessage: string; body: unknown }) => [res.status, res.statusMessage];

  it("lets a user set mapped devices with Mapping.Use, and keeps real devices root's", async () => {
    const set = await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci0: "mapping=gpu,pcie=1", usb0: "mapping=dongle", usb1: "spice", virtiofs0: "share,cache=never" });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(data<Record<string, string>>(await as(DEV, "GET", "/nodes/pve1/qemu/100/config"))).toMatchObject({ hostpci0: "mapping=gpu,pcie=1", usb0: "mapping=dongle", usb1: "spice", virtiofs0: "share,cache=never" });

    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci1: "mapping=other" }))).toEqual([403, "Permission check failed (/mapping/pci/other, Mapping.Use)"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { usb2: "mapping=stick" }))).toEqual([403, "Permission check failed (/mapping/usb/stick, Mapping.Use)"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { virtiofs1: "other" }))).toEqual([403, "Permission check failed (/mapping/dir/other, Mapping.Use)"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci1: "0000:01:00.0" }))).toEqual([500, "only root can set 'hostpci1' config for non-mapped devices"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { usb2: "host=0781:5567" }))).toEqual([500, "only root can set 'usb2' config for real devices"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci1: "pcie=1" }))).toEqual([500, "either 'host' or 'mapping' must be set."]);
    const romfile = await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci1: "mapping=gpu,romfile=vbios.bin" });
    expect((romfile.body as Body).errors).toEqual({ hostpci1: "only root@pam can set 'romfile' option" });

    // Real hardware is for root@pam itself: even root's API token is another user to qemu-server.
    const real = await as(ADMIN, "PUT", "/nodes/pve1/qemu/100/config", { hostpci1: "0000:01:00.0;0000:01:00.1,x-vga=1" });
    expect(refusal(real)).toEqual([500, "only root can set 'hostpci1' config for non-mapped devices"]);
  });

  it("checks the value a change replaces or a delete removes, and the clone source's devices", async () => {
    expect((await as(ADMIN, "PUT", "/nodes/pve1/qemu/100/config", { hostpci3: "mapping=secret" })).status).toBe(200);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { hostpci3: "mapping=gpu" }))).toEqual([403, "Permission check failed (/mapping/pci/secret, Mapping.Use)"]);
    expect(refusal(await as(DEV, "PUT", "/nodes/pve1/qemu/100/config", { delete: "hostpci3" }))).toEqual([403, "Permission check failed (/mapping/pci/secret, Mapping.Use)"]);
    expect(refusal(await as(DEV, "POST", "/nodes/pve1/qemu/200/clone", { newid: "201" }))).toEqual([403, "Permission check failed (/mapping/pci/secret, Mapping.Use)"]);
    expect(refusal(await as(DEV, "POST", "/nodes/pve1/qemu", { vmid: "300", hostpci0: "mapping=secret" }))).toEqual([403, "Permission check failed (/mapping/pci/secret, Mapping.Use)"]);
  });

  it("verifies device values against qemu-server's formats", async () => {
    const bad = await as(ADMIN, "PUT", "/nodes/pve1/qemu/100/config", { hostpci0: "mapping=1gpu", virtiofs0: "share,cache=sometimes", usb0: "host=12:34" });
    expect(bad.status).toBe(400);
    const errors = (bad.body as Body).errors ?? {};
    expect(errors.hostpci0).toContain("invalid configuration ID '1gpu'");
    expect(errors.virtiofs0).toContain("value 'sometimes' does not have a value in the enumeration 'auto, always, metadata, never'");
    expect(errors.usb0).toContain("value does not match the regex pattern");
  });

  it("resolves each mapping on the node the VM starts on", async () => {
    const start = async () => {
      const res = await as(ADMIN, "POST", "/nodes/pve1/qemu/100/status/start");
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const status = await waitTask(t, "pve1", data<string>(res));
      if (status.exitstatus === "OK") await waitTask(t, "pve1", data<string>(await as(ADMIN, "POST", "/nodes/pve1/qemu/100/status/stop")));
      return status.exitstatus;
    };
    await as(ADMIN, "PUT", "/nodes/pve1/qemu/100/config", { hostpci0: "mapping=gpu", usb0: "mapping=dongle", virtiofs0: "share" });
    expect(await start()).toBe("PCI device mapping not found for 'gpu'");
    await as(ADMIN, "POST", "/cluster/mapping/pci", { id: "gpu", map: "node=pve2,path=0000:01:00.0,id=10de:1eb8" });
    expect(await start()).toBe("PCI device mapping not found for 'gpu'");
    await as(ADMIN, "PUT", "/cluster/mapping/pci/gpu", { map: "node=pve1,path=0000:01:00.0,id=10de:1eb8" });
    expect(await start()).toBe("USB device mapping not found for 'dongle'");
    // USB mappings may list a node twice (pve-guest-common does not refuse it); starting cannot pick one
    await as(ADMIN, "POST", "/cluster/mapping/usb", { id: "dongle", map: "node=pve1,id=0781:5567\nnode=pve1,id=0781:5568" });
    expect(await start()).toBe("More than one USB mapping per host not supported");
    await as(ADMIN, "PUT", "/cluster/mapping/usb/dongle", { map: "node=pve1,id=0781:5567" });
    expect(await start()).toBe("Directory ID share does not exist.");
    const twice = await as(ADMIN, "POST", "/cluster/mapping/dir", { id: "share", map: "node=pve2,path=/srv/a\nnode=pve2,path=/srv/b" });
    expect(refusal(twice)).toEqual([500, "Node 'pve2' is specified 2 times."]);
    await as(ADMIN, "POST", "/cluster/mapping/dir", { id: "share", map: "node=pve2,path=/srv/share" });
    expect(await start()).toBe("No directory mapping for node pve1.");
    await as(ADMIN, "PUT", "/cluster/mapping/dir/share", { map: "node=pve1,path=/srv/share" });
    expect(await start()).toBe("OK");
  });
});
