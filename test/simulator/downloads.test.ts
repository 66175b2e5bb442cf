/**
 * Downloads into storages (download-url), storage content listing and deletion, the storage
 * config read and query-url-metadata, against a real HTTP server on loopback (the image mirror
 * the provider's acceptance tests use), as Proxmox's wget would fetch them.
 */
import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startImageMirror, tinyQcow2, type ImageMirror } from "../../src/simulator/image-mirror.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { api, expectNoUnknownRoutes, startTestSimulator, waitTask, type TestSim } from "./harness.js";

type Body = { data: unknown; message?: string; errors?: Record<string, string> };
const data = <T>(res: { body: unknown }) => (res.body as { data: T }).data;

const SEED = {
  nodes: [{ name: "pve1" }],
  storages: [
    { id: "local-lvm", type: "lvmthin" as const, content: ["images" as const, "rootdir" as const], sizeGiB: 100 },
    { id: "local", type: "dir" as const, content: ["iso" as const, "vztmpl" as const, "snippets" as const, "import" as const], sizeGiB: 10 },
    // smaller than one image from the mirror (256 KiB)
    { id: "tiny", type: "dir" as const, content: ["iso" as const], sizeGiB: 100 / (1024 * 1024) },
  ],
};

describe("storage downloads and content", () => {
  let t: TestSim;
  let mirror: ImageMirror;
  guardUnknownRoutes(() => [t?.sim]);

  beforeAll(async () => {
    t = await startTestSimulator({ config: SEED });
    mirror = await startImageMirror();
  });

  afterEach(async () => {
    await t.sim.idle();
    expectNoUnknownRoutes(t);
    t.sim.reset();
  });

  afterAll(async () => {
    await t.sim.close();
    await mirror.close();
  });

  async function download(params: Record<string, string>, storage = "local") {
    const res = await api(t, "POST", `/nodes/pve1/storage/${storage}/download-url`, params);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const upid = data<string>(res);
    const status = await waitTask(t, "pve1", upid);
    const log = data<Array<{ t: string }>>(await api(t, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log?limit=100`)).map((l) => l.t);
    return { upid, status, log };
  }

  it("downloads a URL into the storage as a task, lists it, and deletes it", async () => {
    const url = `${mirror.url}/minimal/releases/noble/release/ubuntu-24.04-minimal-cloudimg-amd64.img`;
    const { upid, status, log } = await download({ url, content: "iso", filename: "noble.img" });
    expect(upid).toMatch(/:download:noble\.img:root@pam!pve-sim:$/);
    expect(status).toMatchObject({ status: "stopped", exitstatus: "OK" });
    expect(log[0]).toBe(`downloading ${url} to /var/lib/vz/template/iso/noble.img`);
    expect(log).toContain("HTTP request sent, awaiting response... 200 OK");
    expect(log.at(-2)).toBe(`download of '${url}' to '/var/lib/vz/template/iso/noble.img' finished`);

    const content = data<Array<Record<string, unknown>>>(await api(t, "GET", "/nodes/pve1/storage/local/content"));
    expect(content).toEqual([expect.objectContaining({ volid: "local:iso/noble.img", content: "iso", format: "iso", size: 256 * 1024 })]);
    const info = data<Record<string, unknown>>(await api(t, "GET", `/nodes/pve1/storage/local/content/${encodeURIComponent("local:iso/noble.img")}`));
    expect(info).toEqual({ path: "/var/lib/vz/template/iso/noble.img", size: 256 * 1024, used: 256 * 1024, format: "iso" });

    const again = await download({ url, content: "iso", filename: "noble.img" });
    expect(again.status.exitstatus).toBe("refusing to override existing file '/var/lib/vz/template/iso/noble.img'");

    const del = await api(t, "DELETE", `/nodes/pve1/storage/local/content/${encodeURIComponent("iso/noble.img")}`);
    expect(del.status).toBe(200);
    expect((await waitTask(t, "pve1", data<string>(del))).exitstatus).toBe("OK");
    expect(data<unknown[]>(await api(t, "GET", "/nodes/pve1/storage/local/content"))).toEqual([]);
  });

  it("verifies the checksum: a match passes, a mismatch fails the task and keeps nothing", async () => {
    const url = `${mirror.url}/a/disk.qcow2`;
    const sha256 = createHash("sha256").update(tinyQcow2(3.5 * 1024 ** 3)).digest("hex");
    const ok = await download({ url, content: "import", filename: "disk.qcow2", checksum: sha256, "checksum-algorithm": "sha256" });
    expect(ok.status.exitstatus).toBe("OK");
    expect(ok.log).toContain("calculating checksum...OK, checksum verified");

    const bad = await download({ url, content: "iso", filename: "other.img", checksum: "00ff", "checksum-algorithm": "sha256" });
    expect(bad.status.exitstatus).toBe(`checksum mismatch: got '${sha256}' != expect '00ff'`);
    const listed = data<Array<{ volid: string }>>(await api(t, "GET", "/nodes/pve1/storage/local/content")).map((v) => v.volid);
    expect(listed).toEqual(["local:import/disk.qcow2"]);
  });

  it("fails as wget does for a missing file, an unresolvable host and a full storage", async () => {
    const missing = await download({ url: `${mirror.url}/nothing-here`, content: "iso", filename: "x.iso" });
    expect(missing.status.exitstatus).toMatch(/^download failed: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ERROR 404: Not Found\.$/);

    const unresolvable = await download({ url: "http://no-such-host.invalid/x.iso", content: "iso", filename: "y.iso" });
    expect(unresolvable.status.exitstatus).toBe("download failed: wget: unable to resolve host address 'no-such-host.invalid'");

    const full = await download({ url: `${mirror.url}/big.img`, content: "iso", filename: "big.img" }, "tiny");
    expect(full.status.exitstatus).toMatch(/^download failed: Cannot write to '\/mnt\/pve\/tiny\/template\/iso\/big\.img\.tmp_dwnl\.\d+' \(No space left on device\)\.$/);
    expect(data<unknown[]>(await api(t, "GET", "/nodes/pve1/storage/tiny/content"))).toEqual([]);
  });

  it("refuses what Proxmox refuses before it starts a task", async () => {
    const block = await api(t, "POST", "/nodes/pve1/storage/local-lvm/download-url", { url: `${mirror.url}/a.img`, content: "iso", filename: "a.img" });
    expect([block.status, block.statusMessage]).toEqual([500, "can't upload to storage type 'lvmthin', not a file based storage!"]);

    const extension = await api(t, "POST", "/nodes/pve1/storage/local/download-url", { url: `${mirror.url}/a.img`, content: "iso", filename: "a.qcow2" });
    expect(extension.status).toBe(400);
    expect((extension.body as Body).errors).toEqual({ filename: "wrong file extension" });

    const scheme = await api(t, "POST", "/nodes/pve1/storage/local/download-url", { url: "ftp://x/a.img", content: "iso", filename: "a.img" });
    expect((scheme.body as Body).errors).toEqual({ url: expect.stringContaining("does not match the regex pattern") });

    const content = await api(t, "POST", "/nodes/pve1/storage/tiny/download-url", { url: `${mirror.url}/a.tar.gz`, content: "vztmpl", filename: "a.tar.gz" });
    expect(content.statusMessage).toBe("storage 'tiny' is not configured for content-type 'vztmpl'");
  });

  it("answers URL metadata from a HEAD request and the storage config", async () => {
    const meta = await api(t, "GET", `/nodes/pve1/query-url-metadata?url=${encodeURIComponent(`${mirror.url}/x/noble.img?sig=1`)}`);
    expect(data(meta)).toEqual({ filename: "noble.img", size: 256 * 1024, mimetype: "application/octet-stream" });
    const missing = await api(t, "GET", `/nodes/pve1/query-url-metadata?url=${encodeURIComponent(`${mirror.url}/gone`)}`);
    expect([missing.status, missing.statusMessage]).toEqual([500, "invalid server response: '404 Not Found'"]);

    const local = data<Record<string, unknown>>(await api(t, "GET", "/storage/local"));
    expect(local).toEqual({ storage: "local", type: "dir", path: "/var/lib/vz", content: "iso,vztmpl,snippets,import", digest: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const thin = data<Record<string, unknown>>(await api(t, "GET", "/storage/local-lvm"));
    expect(thin).toMatchObject({ type: "lvmthin", thinpool: "data", vgname: "pve" });
  });
});
