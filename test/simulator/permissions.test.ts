/**
 * Privileges as Proxmox models them, through the simulator's HTTPS API: the default seed's token
 * may do everything; a privilege-separated token gets what both it and its user hold; a missing
 * privilege answers 403 with Proxmox's text; /access/permissions reports the effective
 * privileges; ACL changes apply at once; an offline node answers 595; move_disk moves a disk.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_ROLE_PRIVILEGES } from "../../src/api/required-privileges.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, startTestSimulator, waitTask, type TestSim } from "./harness.js";

type Body = { data: unknown; message?: string };

const ADMIN = "root@pam!admin=11111111-1111-1111-1111-111111111111";
const OPERATOR = "ptm@pve!operator=22222222-2222-2222-2222-222222222222";

describe("privileges", () => {
  let open: TestSim;
  let t: TestSim;
  guardUnknownRoutes(() => [open?.sim, t?.sim]);

  beforeAll(async () => {
    open = await startTestSimulator();
    t = await startTestSimulator({
      config: {
        nodes: [{ name: "pve1" }, { name: "pve2" }],
        storages: [
          { id: "local-lvm", type: "lvmthin", content: ["images", "rootdir"] },
          { id: "fast", type: "lvmthin", content: ["images"] },
          { id: "local", type: "dir", content: ["iso", "snippets"] },
        ],
        tokens: [
          { id: "root@pam!admin", secret: "11111111-1111-1111-1111-111111111111", privsep: false },
          { id: "ptm@pve!operator", secret: "22222222-2222-2222-2222-222222222222" },
        ],
        users: [{ id: "ptm@pve" }],
        roles: [{ id: "PTMOperator", privs: [...OPERATOR_ROLE_PRIVILEGES] }],
        acl: [
          { path: "/", role: "PTMOperator", user: "ptm@pve" },
          { path: "/", role: "PTMOperator", token: "ptm@pve!operator" },
        ],
        templates: [
          {
            vmid: 9000,
            config: { name: "tpl", scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0" },
          },
        ],
        vms: [{ vmid: 300, node: "pve2", config: { name: "far" } }],
      },
    });
  });

  afterAll(async () => {
    await open?.sim.close();
    await t?.sim.close();
  });

  it("gives the default seed's token every privilege on /", async () => {
    const res = await api(open, "GET", "/access/permissions?path=/vms/100");
    expect(res.status).toBe(200);
    const privs = (res.body as { data: Record<string, Record<string, number>> }).data["/vms/100"] ?? {};
    expect(privs["VM.Allocate"]).toBe(1);
    expect(privs["Permissions.Modify"]).toBe(1);
  });

  it("lets the operator's role clone the template", async () => {
    const res = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "101", full: "1" }, OPERATOR);
    expect(res.status).toBe(200);
    expect((await waitTask(t, "pve1", (res.body as Body).data as string)).exitstatus).toBe("OK");
  });

  it("answers a missing privilege with Proxmox's 403, path and privilege named", async () => {
    // take VM.Clone away from the token on the template only: NoAccess there overrides the propagated role
    const deny = await api(t, "PUT", "/access/acl", { path: "/vms/9000", roles: "NoAccess", tokens: "ptm@pve!operator" }, ADMIN);
    expect(deny.status).toBe(200);
    const res = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "102" }, OPERATOR);
    expect(res.status).toBe(403);
    expect(res.statusMessage).toBe("Permission check failed (/vms/9000, VM.Clone)");
    expect(res.body).toEqual({ data: null, message: "Permission check failed (/vms/9000, VM.Clone)\n" });
    const perms = await api(t, "GET", "/access/permissions?path=/vms/9000", undefined, OPERATOR);
    expect((perms.body as Body).data).toEqual({ "/vms/9000": {} });
    // the token's user still may: privilege separation gives the token only what both hold
    const user = await api(t, "GET", "/access/permissions?path=/vms/9000&userid=ptm@pve", undefined, OPERATOR);
    expect(Object.keys(((user.body as Body).data as Record<string, object>)["/vms/9000"] ?? {})).toContain("VM.Clone");
    const restore = await api(t, "PUT", "/access/acl", { path: "/vms/9000", roles: "NoAccess", tokens: "ptm@pve!operator", delete: "1" }, ADMIN);
    expect(restore.status).toBe(200);
    const again = await api(t, "POST", "/nodes/pve1/qemu/9000/clone", { newid: "102" }, OPERATOR);
    expect(again.status).toBe(200);
    await waitTask(t, "pve1", (again.body as Body).data as string);
  });

  it("needs SDN.Use on the bridge and Datastore.AllocateSpace on the storage of a new disk", async () => {
    await api(t, "PUT", "/access/acl", { path: "/sdn/zones/localnetwork/vmbr1", roles: "NoAccess", tokens: "ptm@pve!operator" }, ADMIN);
    const nic = await api(t, "PUT", "/nodes/pve1/qemu/101/config", { net1: "virtio,bridge=vmbr1" }, OPERATOR);
    expect(nic.status).toBe(403);
    expect(nic.statusMessage).toBe("Permission check failed (/sdn/zones/localnetwork/vmbr1, SDN.Use)");
    await api(t, "PUT", "/access/acl", { path: "/storage/fast", roles: "PVEAuditor", tokens: "ptm@pve!operator", propagate: "0" }, ADMIN);
    const disk = await api(t, "PUT", "/nodes/pve1/qemu/101/config", { scsi1: "fast:4" }, OPERATOR);
    expect(disk.statusMessage).toBe("Permission check failed (/storage/fast, Datastore.AllocateSpace)");
    const root = await api(t, "PUT", "/nodes/pve1/qemu/101/config", { args: "-no-reboot" }, OPERATOR);
    expect(root.statusMessage).toBe("only root can set 'args' config");
  });

  it("hides VMs and storages the caller may not audit from /cluster/resources", async () => {
    await api(t, "PUT", "/access/acl", { path: "/vms/102", roles: "NoAccess", tokens: "ptm@pve!operator" }, ADMIN);
    await api(t, "PUT", "/access/acl", { path: "/storage/local", roles: "NoAccess", tokens: "ptm@pve!operator" }, ADMIN);
    const res = await api(t, "GET", "/cluster/resources", undefined, OPERATOR);
    const ids = ((res.body as Body).data as Array<{ id: string }>).map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining(["qemu/101", "storage/pve1/fast"]));
    expect(ids).not.toContain("qemu/102");
    expect(ids).not.toContain("storage/pve1/local");
  });

  it("takes a node offline: 595 for its calls, offline in the listings, its VMs unknown", async () => {
    const control = await fetchSim(t, "PUT", "nodes/pve2", { online: false });
    expect(control.status).toBe(200);
    const call = await api(t, "GET", "/nodes/pve2/qemu/300/status/current", undefined, ADMIN);
    expect(call.status).toBe(595);
    expect(call.statusMessage).toBe("Connection refused");
    expect(call.body).toBeUndefined();
    const nodes = (await api(t, "GET", "/nodes", undefined, ADMIN)).body as { data: Array<{ node: string; status: string }> };
    expect(nodes.data.find((n) => n.node === "pve2")?.status).toBe("offline");
    expect(nodes.data.find((n) => n.node === "pve1")?.status).toBe("online");
    const resources = (await api(t, "GET", "/cluster/resources?type=vm", undefined, ADMIN)).body as { data: Array<{ vmid: number; status: string }> };
    expect(resources.data.find((r) => r.vmid === 300)?.status).toBe("unknown");
    // the permission check comes first, as pve-manager checks before it proxies
    await api(t, "PUT", "/access/acl", { path: "/vms/300", roles: "NoAccess", tokens: "ptm@pve!operator" }, ADMIN);
    const denied = await api(t, "GET", "/nodes/pve2/qemu/300/config", undefined, OPERATOR);
    expect(denied.statusMessage).toBe("Permission check failed (/vms/300, VM.Audit)");
    await fetchSim(t, "PUT", "nodes/pve2", { online: true });
    expect((await api(t, "GET", "/nodes/pve2/qemu/300/status/current", undefined, ADMIN)).status).toBe(200);
  });

  it("moves a disk to another storage, keeping the old volume as unused0 unless delete=1", async () => {
    const res = await api(t, "POST", "/nodes/pve1/qemu/101/move_disk", { disk: "scsi0", storage: "fast" }, ADMIN);
    expect(res.status).toBe(200);
    expect((await waitTask(t, "pve1", (res.body as Body).data as string)).exitstatus).toBe("OK");
    const conf = (await api(t, "GET", "/nodes/pve1/qemu/101/config", undefined, ADMIN)).body as { data: Record<string, string> };
    expect(conf.data.scsi0).toMatch(/^fast:vm-101-disk-0,/);
    expect(conf.data.unused0).toMatch(/^local-lvm:vm-101-disk-0$/);
    const same = await api(t, "POST", "/nodes/pve1/qemu/101/move_disk", { disk: "scsi0", storage: "fast" }, ADMIN);
    expect(same.statusMessage).toBe("you can't move to the same storage with same format");
    const noImages = await api(t, "POST", "/nodes/pve1/qemu/101/move_disk", { disk: "scsi0", storage: "local" }, ADMIN);
    expect(noImages.status).toBe(400);
    expect((noImages.body as { errors: Record<string, string> }).errors.storage).toBe("storage 'local' does not support vm images");
    const missing = await api(t, "POST", "/nodes/pve1/qemu/101/move_disk", { disk: "scsi0", storage: "nope" }, ADMIN);
    expect(missing.statusMessage).toBe("storage 'nope' does not exist");
    const back = await api(t, "POST", "/nodes/pve1/qemu/101/move_disk", { disk: "scsi0", storage: "local-lvm", delete: "1" }, ADMIN);
    expect((await waitTask(t, "pve1", (back.body as Body).data as string)).exitstatus).toBe("OK");
    const after = (await api(t, "GET", "/nodes/pve1/qemu/101/config", undefined, ADMIN)).body as { data: Record<string, string> };
    expect(after.data.scsi0).toMatch(/^local-lvm:vm-101-disk-1,/);
    expect(t.sim.state().storages.fast?.volumes["vm-101-disk-0"]).toBeUndefined();
  });
});

/** The simulator's /_sim control API with the cluster's admin token. */
async function fetchSim(t: TestSim, method: string, name: string, body: unknown) {
  const { Agent, request } = await import("node:https");
  const payload = JSON.stringify(body);
  return new Promise<{ status: number }>((resolve, reject) => {
    const req = request(
      new URL(`_sim/${name}`, t.sim.url),
      { method, agent: new Agent({ rejectUnauthorized: false }), headers: { Authorization: `PVEAPIToken=${ADMIN}`, "Content-Type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
