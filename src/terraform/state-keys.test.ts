import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { KEY_PROVIDER_SCRIPT } from "./encryption.js";
import { generateStateKey, parseStateKey, StateKeyFiles, stateKeyId } from "./state-keys.js";

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "ptm-keys-"));
  dirs.push(dir);
  return dir;
}

describe("state keys", () => {
  it("generates 32 random bytes and accepts only that", () => {
    const key = generateStateKey();
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(generateStateKey()).not.toBe(key);
    expect(parseStateKey(` ${key}\n`, "PTM_STATE_KEY")).toBe(key);
    expect(() => parseStateKey("c2hvcnQ=", "PTM_STATE_KEY")).toThrow(/PTM_STATE_KEY must be 32 random bytes in base64/);
    expect(() => parseStateKey("not base64 at all!", "Secret x")).toThrow(/Secret x must be/);
  });

  it("writes each key once, mode 0600 in a 0700 directory, named by a digest that is not the key", async () => {
    const dir = path.join(await tempDir(), "keys");
    const files = new StateKeyFiles(dir);
    const key = generateStateKey();
    const file = await files.fileFor(key);
    expect(path.basename(file)).toBe(`${stateKeyId(key)}.key`);
    expect(file).not.toContain(Buffer.from(key, "base64").toString("hex").slice(0, 16));
    expect(await readFile(file, "utf8")).toBe(key);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await files.fileFor(key)).toBe(file);
    const config = await files.config({ current: key, previous: [] });
    expect(config).toContain(file);
    expect(config).not.toContain(key);
  });

  it("prints the key file as OpenTofu's external key provider protocol asks", async () => {
    const files = new StateKeyFiles(await tempDir());
    const key = generateStateKey();
    const child = run("/bin/sh", ["-c", KEY_PROVIDER_SCRIPT, "ptm-state-key", await files.fileFor(key)]);
    child.child.stdin?.end('{"external_data":{}}');
    const { stdout } = await child;
    const [header, body, rest] = stdout.split("\n");
    expect(JSON.parse(header!)).toEqual({ magic: "OpenTofu-External-Key-Provider", version: 1 });
    expect(JSON.parse(body!)).toEqual({ keys: { encryption_key: key, decryption_key: key }, meta: { external_data: {} } });
    expect(rest).toBe("");
  });

  it("fails (non-zero) when the key file is missing", async () => {
    const child = run("/bin/sh", ["-c", KEY_PROVIDER_SCRIPT, "ptm-state-key", path.join(await tempDir(), "gone.key")]);
    child.child.stdin?.end("null");
    await expect(child).rejects.toMatchObject({ code: 1 });
  });
});
