/**
 * Free text in VM configs reads back as qemu-server writes and parses it (the description's
 * trailing whitespace and empty lines go), and the cluster's resource mappings
 * (/cluster/mapping/{dir,pci,usb}) are kept and listed as pve-manager does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, expectNoUnknownRoutes, startTestSimulator, type TestSim } from "./harness.js";

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
