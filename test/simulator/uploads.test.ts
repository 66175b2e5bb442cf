/**
 * POST /nodes/{node}/storage/{storage}/upload with real multipart/form-data requests over HTTPS:
 * the body is streamed into a temporary file, checked as pve-storage checks it (checksum,
 * untrusted images, OVA contents, extensions, storage content types) and copied into the
 * storage by an `imgcopy` task; refusals come with Proxmox's texts. The same endpoint then
 * through the real provider: a `proxmox_virtual_environment_file` ISO applied and destroyed
 * with tofu.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tinyQcow2 } from "../../src/simulator/image-mirror.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, explain, expectNoUnknownRoutes, initWorkdir, run, startTestSimulator, tfConfig, waitTask, type TestSim } from "./harness.js";
import { multipartBody, postRaw, upload } from "./multipart-client.js";

type Body = { data: unknown; message?: string; errors?: Record<string, string> };
const data = <T>(res: { body: unknown }) => (res.body as { data: T }).data;

const ROOT = { id: "root@pam!admin", secret: "55555555-5555-4555-8555-555555555555" };
const AUDITOR = { id: "auditor@pve!ro", secret: "66666666-6666-4666-8666-666666666666" };

const SEED = {
  nodes: [{ name: "pve1" }],
  tokens: [{ ...ROOT, privsep: false }, AUDITOR],
  users: [{ id: "auditor@pve" }],
  acl: [
    { path: "/storage", role: "PVEAuditor", user: "auditor@pve" },
    { path: "/storage", role: "PVEAuditor", token: AUDITOR.id },
  ],
  storages: [
    { id: "local-lvm", type: "lvmthin" as const, content: ["images" as const] },
    { id: "local", type: "dir" as const, content: ["iso" as const, "vztmpl" as const, "import" as const], sizeGiB: 10 },
    { id: "snips", type: "dir" as const, content: ["snippets" as const] },
    // 100 KiB: smaller than the 256 KiB image the tests upload
    { id: "tiny", type: "dir" as const, content: ["iso" as const], sizeGiB: 100 / (1024 * 1024) },
  ],
};

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("uploads into storages (multipart)", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const scratch = mkdtempSync(path.join(tmpdir(), "ptm-upload-"));

  beforeAll(async () => {
    t = await startTestSimulator({ config: SEED });
  });

  afterEach(async () => {
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** The node's /var/tmp as the simulator keeps it: no upload may leave a file behind. */
  const leftoverTempFiles = () => {
    const dir = path.join(t.sim.context.files.root, ".var-tmp");
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  async function taskOf(upid: string) {
    const status = await waitTask(t, "pve1", upid);
    const log = data<Array<{ t: string }>>(await api(t, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log?limit=100`)).map((l) => l.t);
    return { status, log };
  }

  function isoVolumes(storage = "local") {
    return api(t, "GET", `/nodes/pve1/storage/${storage}/content?content=iso`).then((r) => data<Array<Record<string, unknown>>>(r));
  }

  it("streams a file into the storage as an imgcopy task, checksum verified, and lists it", async () => {
    const image = tinyQcow2(2 * 1024 ** 3);
    // 1000-byte writes: the closing delimiter arrives split across reads
    const res = await upload(t.sim, "pve1", "local", { content: "iso", "checksum-algorithm": "sha256", checksum: sha256(image).toUpperCase() }, { filename: "C:\\isos\\my disk.iso", data: image }, { chunkSize: 1000 });
    expect(res.status, res.text).toBe(200);
    const upid = (JSON.parse(res.text) as { data: string }).data;
    expect(upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:imgcopy::root@pam!admin:$/);
    const { status, log } = await taskOf(upid);
    expect(status).toMatchObject({ status: "stopped", exitstatus: "OK" });
    const tmp = log[0]?.replace("starting file import from: ", "") ?? "";
    expect(tmp).toMatch(/^\/var\/tmp\/pveupload-[0-9a-f]{32}$/);
    expect(log).toEqual([
      `starting file import from: ${tmp}`,
      "calculating checksum...OK, checksum verified",
      "target node: pve1",
      "target file: /var/lib/vz/template/iso/my_disk.iso",
      `file size is: ${image.length}`,
      `command: cp -- ${tmp} /var/lib/vz/template/iso/my_disk.iso`,
      "finished file import successfully",
      "TASK OK",
    ]);
    expect(await isoVolumes()).toEqual([expect.objectContaining({ volid: "local:iso/my_disk.iso", format: "iso", size: image.length })]);
    expect(leftoverTempFiles()).toEqual([]);

    // The same name again overwrites (Proxmox does not refuse, unlike download-url).
    const again = await upload(t.sim, "pve1", "local", { content: "iso" }, { filename: "my_disk.iso", data: Buffer.alloc(4096, 1) });
    expect((await taskOf((JSON.parse(again.text) as { data: string }).data)).status.exitstatus).toBe("OK");
    expect(await isoVolumes()).toEqual([expect.objectContaining({ volid: "local:iso/my_disk.iso", size: 4096 })]);
  });

  it("fails the task on a checksum mismatch and keeps nothing", async () => {
    const image = Buffer.alloc(2048, 7);
    const wrong = "0".repeat(64);
    const res = await upload(t.sim, "pve1", "local", { content: "iso", "checksum-algorithm": "sha256", checksum: wrong }, { filename: "x.iso", data: image });
    const { status, log } = await taskOf((JSON.parse(res.text) as { data: string }).data);
    const message = `checksum mismatch: got '${sha256(image)}' != expect '${wrong}'`;
    expect(status.exitstatus).toBe(message);
    expect(log.slice(1)).toEqual(["calculating checksum...", message, `TASK ERROR: ${message}`]);
    expect(await isoVolumes()).toEqual([]);
    expect(leftoverTempFiles()).toEqual([]);
  });

  it("refuses untrusted images: a qcow2 with a backing file, an OVA without .ovf, a mislabelled qcow2", async () => {
    const backed = tinyQcow2(1024 ** 3, 8192);
    backed.writeBigUInt64BE(512n, 8); // backing_file_offset
    const cases: Array<[string, string, Buffer, RegExp]> = [
      ["import", "disk.qcow2", backed, /^backing file not allowed for untrusted image '\/var\/tmp\/pveupload-[0-9a-f]+'!$/],
      ["iso", "backed.iso", backed, /^backing file not allowed for untrusted image '\/var\/tmp\/pveupload-[0-9a-f]+'!$/],
      ["import", "plain.qcow2", Buffer.alloc(8192), /^qemu-img: Could not open '\/var\/tmp\/pveupload-[0-9a-f]+': Image is not in qcow2 format$/],
    ];
    writeFileSync(path.join(scratch, "readme.txt"), "no ovf here\n");
    const noOvf = execFileSync("tar", ["-c", "-C", scratch, "readme.txt"]);
    cases.push(["import", "appliance.ova", noOvf, /^ova archive has no \.ovf file inside$/]);
    cases.push(["import", "garbage.ova", Buffer.alloc(1024, 0x41), /^command 'tar -t -f \/var\/tmp\/pveupload-[0-9a-f]+' failed: exit code 2$/]);
    for (const [content, filename, bytes, message] of cases) {
      const res = await upload(t.sim, "pve1", "local", { content }, { filename, data: bytes });
      expect(res.status, res.text).toBe(200);
      const { status } = await taskOf((JSON.parse(res.text) as { data: string }).data);
      expect(status.exitstatus, filename).toMatch(message);
    }
    const listed = data<unknown[]>(await api(t, "GET", "/nodes/pve1/storage/local/content"));
    expect(listed).toEqual([]);
    expect(leftoverTempFiles()).toEqual([]);

    // An OVA with an .ovf and a raw import image go in.
    writeFileSync(path.join(scratch, "vm.ovf"), "<Envelope/>\n");
    const ova = execFileSync("tar", ["-c", "-C", scratch, "vm.ovf"]);
    for (const [filename, bytes] of [["appliance.ova", ova], ["disk.raw", Buffer.alloc(65536)]] as const) {
      const res = await upload(t.sim, "pve1", "local", { content: "import" }, { filename, data: bytes });
      expect((await taskOf((JSON.parse(res.text) as { data: string }).data)).status.exitstatus, filename).toBe("OK");
    }
    const imports = data<Array<{ volid: string; format: string }>>(await api(t, "GET", "/nodes/pve1/storage/local/content?content=import"));
    expect(imports.map((v) => [v.volid, v.format])).toEqual([
      ["local:import/appliance.ova", "ova"],
      ["local:import/disk.raw", "raw"],
    ]);
  });

  it("fails the copy when the storage is full, as cp does", async () => {
    const res = await upload(t.sim, "pve1", "tiny", { content: "iso" }, { filename: "big.iso", data: Buffer.alloc(256 * 1024) });
    const { status } = await taskOf((JSON.parse(res.text) as { data: string }).data);
    expect(status.exitstatus).toBe("import failed: cp: error writing '/mnt/pve/tiny/template/iso/big.iso': No space left on device");
    expect(await isoVolumes("tiny")).toEqual([]);
    expect(leftoverTempFiles()).toEqual([]);
  });

  it("refuses what the handler refuses before it starts a task", async () => {
    const file = { filename: "a.iso", data: Buffer.alloc(1024) };
    const answer = async (storage: string, fields: Record<string, string>, f = file) => {
      const res = await upload(t.sim, "pve1", storage, fields, f);
      return { status: res.status, statusMessage: res.statusMessage, body: JSON.parse(res.text) as Body };
    };
    expect(await answer("local", { content: "iso" }, { filename: "a.exe", data: Buffer.alloc(10) })).toMatchObject({
      status: 400,
      body: { errors: { filename: "wrong file extension" } },
    });
    expect((await answer("local", { content: "import" }, { filename: "disk.img", data: Buffer.alloc(10) })).body.errors).toEqual({ filename: "invalid filename or wrong extension" });
    expect((await answer("local", { content: "snippets" })).body.errors?.content).toMatch(/does not have a value in the enumeration 'iso, vztmpl, import'/);
    expect((await answer("local", { content: "iso", checksum: "abc" })).body.errors).toEqual({ "checksum-algorithm": "missing property required by 'checksum'" });
    expect(await answer("snips", { content: "iso" })).toMatchObject({ status: 500, statusMessage: "storage 'snips' does not support 'iso' content" });
    expect(await answer("local-lvm", { content: "iso" })).toMatchObject({ status: 500, statusMessage: "can't upload to storage type 'lvmthin'" });
    expect(await answer("nowhere", { content: "iso" })).toMatchObject({ status: 500, statusMessage: "storage 'nowhere' does not exist" });
    expect(leftoverTempFiles()).toEqual([]);

    // Without a body there is no upload: the handler finds no temporary file.
    const bare = await postRaw(t.sim, "/nodes/pve1/storage/local/upload?content=iso&filename=a.iso", undefined);
    expect([bare.status, bare.statusMessage]).toEqual([500, "missing temporary file name"]);
  });

  it("answers malformed multipart bodies as pve-http-server does", async () => {
    const boundary = "xyzBoundary";
    const type = `multipart/form-data; boundary=${boundary}`;
    const send = (body: Buffer, contentType = type) => postRaw(t.sim, "/nodes/pve1/storage/local/upload", body, { contentType });
    const file = { name: "file", filename: "a.iso", data: Buffer.alloc(16) };

    const wrongName = await send(multipartBody(boundary, [{ name: "content", value: "iso" }, file]));
    expect([wrongName.status, wrongName.statusMessage, wrongName.text]).toEqual([500, "wrong field name 'file' for file upload, expected 'filename'", "wrong field name 'file' for file upload, expected 'filename'\n"]);

    const attachment = await send(multipartBody(boundary, [{ name: "content", value: "iso", disposition: "attachment" }, { ...file, name: "filename" }]));
    expect([attachment.status, attachment.statusMessage]).toEqual([500, "wrong Content-Disposition 'attachment' in multipart, expected 'form-data'"]);

    const whole = multipartBody(boundary, [{ name: "content", value: "iso" }, { ...file, name: "filename" }]);
    const truncated = await send(whole.subarray(0, whole.length - 20));
    expect([truncated.status, truncated.text]).toEqual([500, "upload failed\n"]);

    // A request Proxmox only logs and never answers: the connection goes away.
    await expect(send(Buffer.from("content=iso&filename=a.iso"), "application/x-www-form-urlencoded")).rejects.toThrow(/socket hang up|ECONNRESET/);
    await expect(postRaw(t.sim, "/nodes/pve1/storage/local/upload?tmpfilename=/var/tmp/pveupload-00", whole, { contentType: type })).rejects.toThrow(/socket hang up|ECONNRESET/);

    // The node's /var/tmp fills up before the file is complete.
    t.sim.context.uploadTmpBytes = 1000;
    const tooBig = await upload(t.sim, "pve1", "local", { content: "iso" }, { filename: "big.iso", data: Buffer.alloc(4096) });
    expect([tooBig.status, tooBig.statusMessage]).toEqual([500, "write to temporary file failed - No space left on device"]);
    t.sim.context.uploadTmpBytes = 8 * 1024 ** 3;
    expect(leftoverTempFiles()).toEqual([]);
  });

  it("checks Datastore.AllocateTemplate before it reads the body", async () => {
    const res = await upload(t.sim, "pve1", "local", { content: "iso" }, { filename: "a.iso", data: Buffer.alloc(512 * 1024) }, { token: `${AUDITOR.id}=${AUDITOR.secret}` });
    expect([res.status, res.statusMessage, res.text]).toEqual([403, "Permission check failed (/storage/local, Datastore.AllocateTemplate)", ""]);
    expect(leftoverTempFiles()).toEqual([]);
    expect(await isoVolumes()).toEqual([]);
  });
});

describe("uploads through the provider", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const dirs: string[] = [];

  beforeAll(async () => {
    t = await startTestSimulator({ config: { nodes: [{ name: "pve1" }], storages: [{ id: "local", type: "dir", content: ["iso", "snippets"], sizeGiB: 10 }] } });
  });

  afterAll(async () => {
    await t?.sim.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("applies a proxmox_virtual_environment_file ISO by multipart upload, plans clean and destroys it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ptm-upload-src-"));
    dirs.push(dir);
    const image = tinyQcow2(1024 ** 3, 128 * 1024);
    writeFileSync(path.join(dir, "installer.iso"), image);
    const config = tfConfig(
      {},
      {
        resource: {
          proxmox_virtual_environment_file: {
            installer: { content_type: "iso", datastore_id: "local", node_name: "pve1", source_file: { path: path.join(dir, "installer.iso") } },
          },
        },
      },
    );
    const work = await initWorkdir(config, t.env);
    dirs.push(work);
    const apply = await run(work, ["apply", "-auto-approve"], t.env);
    expect(apply.code, explain(apply)).toBe(0);
    expect(t.sim.calls().find((c) => c.route === "/nodes/{node}/storage/{storage}/upload")?.count).toBe(1);
    const listed = data<Array<Record<string, unknown>>>(await api(t, "GET", "/nodes/pve1/storage/local/content?content=iso"));
    expect(listed).toEqual([expect.objectContaining({ volid: "local:iso/installer.iso", size: image.length })]);

    const plan = await run(work, ["plan", "-detailed-exitcode"], t.env);
    expect(plan.code, explain(plan)).toBe(0);
    const destroy = await run(work, ["destroy", "-auto-approve"], t.env);
    expect(destroy.code, explain(destroy)).toBe(0);
    expect(data<unknown[]>(await api(t, "GET", "/nodes/pve1/storage/local/content?content=iso"))).toEqual([]);
    expectNoUnknownRoutes(t);
  });
});
