/**
 * The node over SSH, with a real SSH client (ssh2): logins as the seed's pam users (password or
 * key), exec in the node's shell with the real tools' output and exit codes (`pvesm path`,
 * `qm disk import`, `qm set`, the provider's try_sudo wrapper), and SFTP and `tee` uploads that
 * land in the storage the API lists.
 */
import ssh2, { type Client, type ConnectConfig } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, expectNoUnknownRoutes, startTestSimulator, type TestSim } from "./harness.js";

const data = <T>(res: { body: unknown }) => (res.body as { data: T }).data;
const ROOT_PASSWORD = "node-root-password";

const opsKeys = ssh2.utils.generateKeyPairSync("ed25519", { comment: "ops@test" });
const privateKey = opsKeys.private;
const opsPublic = opsKeys.public;

const SEED = {
  nodes: [{ name: "pve1" }],
  storages: [
    { id: "local-lvm", type: "lvmthin" as const, content: ["images" as const] },
    { id: "local", type: "dir" as const, content: ["iso" as const, "snippets" as const, "import" as const] },
  ],
  users: [
    { id: "root@pam", password: ROOT_PASSWORD },
    { id: "ops@pam", sshKeys: [opsPublic] },
  ],
  ssh: { enabled: true },
  vms: [{ vmid: 100, node: "pve1", config: { name: "target", memory: "512" } }],
};

function connect(t: TestSim, auth: Partial<ConnectConfig>): Promise<Client> {
  const endpoint = t.sim.ssh[0];
  if (!endpoint) throw new Error("no SSH endpoint");
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on("ready", () => resolve(client)).on("error", reject);
    client.connect({ host: endpoint.address, port: endpoint.port, username: "root", readyTimeout: 20_000, ...auth });
  });
}

function exec(client: Client, command: string, stdin?: string): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let out = "";
      let err = "";
      let code = -1;
      channel.on("data", (d: Buffer) => (out += d.toString()));
      channel.stderr.on("data", (d: Buffer) => (err += d.toString()));
      channel.on("exit", (c: number) => (code = c));
      channel.on("close", () => resolve({ out, err, code }));
      if (stdin !== undefined) channel.end(stdin);
    });
  });
}

/** What the provider sends: `/bin/bash -c '<script>'` with single quotes escaped. */
const providerScript = (lines: string[]) => `/bin/bash -c '${lines.join("; ").replace(/'/g, `'"'"'`)}'`;

describe("node SSH", () => {
  let t: TestSim;
  const clients: Client[] = [];
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({ config: SEED });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.end();
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
  });

  async function root(): Promise<Client> {
    const c = await connect(t, { password: ROOT_PASSWORD });
    clients.push(c);
    return c;
  }

  it("lets in the seed's pam users by password or key, nobody else", async () => {
    await expect(connect(t, { password: "wrong" })).rejects.toThrow(/authentication methods failed/);
    await expect(connect(t, { username: "ghost", password: ROOT_PASSWORD })).rejects.toThrow(/authentication methods failed/);
    const ops = await connect(t, { username: "ops", privateKey });
    clients.push(ops);
    expect((await exec(ops, "echo hello")).out).toBe("hello\n");
    expect((await exec(await root(), "id -u")).out).toBe("0\n");
  });

  it("answers pvesm and qm as the real tools do, exit codes included", async () => {
    const c = await root();
    expect(await exec(c, "/usr/sbin/pvesm path local:iso/x.iso")).toEqual({ out: "/var/lib/vz/template/iso/x.iso\n", err: "", code: 0 });
    expect(await exec(c, "pvesm path local-lvm:vm-100-disk-0")).toMatchObject({ out: "/dev/pve/vm-100-disk-0\n", code: 0 });
    expect((await exec(c, "pvesm apiinfo")).out).toMatch(/^APIVER \d+\nAPIAGE \d+\n$/);
    expect(await exec(c, "qm disk import 4711 /var/lib/vz/template/iso/x.iso local-lvm")).toEqual({
      out: "",
      err: "Configuration file 'nodes/pve1/qemu-server/4711.conf' does not exist\n",
      code: 255,
    });
    expect(await exec(c, "qm disk import 100 /var/lib/vz/template/iso/missing.img local-lvm")).toMatchObject({
      err: "/var/lib/vz/template/iso/missing.img: non-existent or non-regular file\n",
      code: 255,
    });
    expect((await exec(c, "no-such-command-here")).code).toBe(127);
  });

  it("imports an uploaded image with the provider's own script and attaches it", async () => {
    const c = await root();
    // stream upload as NodeStreamUpload does it: tee into the storage path
    const image = Buffer.alloc(4096, 1).toString("latin1");
    const tee = await exec(c, providerScript(["export TRY_SUDO_USE_SUDO=0", "try_sudo(){ \"$@\"; }", "try_sudo /usr/bin/tee /var/lib/vz/template/iso/disk.img > /dev/null"]), image);
    expect(tee.code, tee.err).toBe(0);
    const iso = data<Array<{ volid: string; size: number }>>(await api(t, "GET", "/nodes/pve1/storage/local/content?content=iso"));
    expect(iso).toEqual([expect.objectContaining({ volid: "local:iso/disk.img", size: 4096 })]);

    const script = providerScript([
      "set -e",
      "try_sudo(){ \"$@\"; }",
      "file_id=local:iso/disk.img",
      "source_image=$(try_sudo /usr/sbin/pvesm path $file_id)",
      "imported_disk=$(try_sudo /usr/sbin/qm disk import 100 $source_image local-lvm -format qcow2 | grep unused0 | cut -d : -f 3 | cut -d \\' -f 1)",
      "try_sudo /usr/sbin/qm set 100 -scsi0 local-lvm:$imported_disk,iothread=1",
    ]);
    const imported = await exec(c, script);
    expect(imported, imported.err).toMatchObject({ code: 0, out: "update VM 100: -scsi0 local-lvm:vm-100-disk-0,iothread=1\n" });
    const conf = data<Record<string, string>>(await api(t, "GET", "/nodes/pve1/qemu/100/config"));
    expect(conf.scsi0).toBe("local-lvm:vm-100-disk-0,iothread=1,size=4K");
    expect(conf.unused0).toBeUndefined();
  });

  it("writes SFTP uploads into the storage directories the API lists", async () => {
    const c = await root();
    const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => c.sftp((e, s) => (e ? reject(e) : resolve(s))));
    await new Promise<void>((resolve, reject) => sftp.mkdir("/var/lib/vz/snippets", (e) => (e && !/exist|Failure/i.test(e.message) ? reject(e) : resolve())));
    await new Promise<void>((resolve, reject) => sftp.writeFile("/var/lib/vz/snippets/user-data.yaml", "#cloud-config\n", (e) => (e ? reject(e) : resolve())));
    const snippets = data<Array<{ volid: string; format: string; size: number }>>(await api(t, "GET", "/nodes/pve1/storage/local/content?content=snippets"));
    expect(snippets).toEqual([expect.objectContaining({ volid: "local:snippets/user-data.yaml", format: "snippet", size: 14 })]);
    const read = await new Promise<Buffer>((resolve, reject) => sftp.readFile("/var/lib/vz/snippets/user-data.yaml", (e, b) => (e ? reject(e) : resolve(b))));
    expect(read.toString()).toBe("#cloud-config\n");
    expect((await exec(c, "cat /var/lib/vz/snippets/user-data.yaml")).out).toBe("#cloud-config\n");
  });
});
