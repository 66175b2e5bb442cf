/**
 * The operator's state encryption keys as tofu's `external` key provider reads them: each key
 * (32 random bytes, base64) in its own file, mode 0600, in a 0700 directory of the worker's own
 * work root. Files are named by a digest of the key, so a rotated key gets a new file and a
 * running command never sees one change under it. The TF_ENCRYPTION value names only paths.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile, readFile } from "node:fs/promises";
import path from "node:path";
import { keyEncryptionConfig } from "./encryption.js";

export const STATE_KEY_BYTES = 32;

export interface StateKeys {
  /** Writes new state and plans (base64 of 32 bytes). */
  current: string;
  /** Tried after the current key when reading (rotation). */
  previous: string[];
}

export class InvalidStateKey extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidStateKey";
  }
}

/** A fresh key: 32 bytes from the system's CSPRNG, base64. */
export function generateStateKey(): string {
  return randomBytes(STATE_KEY_BYTES).toString("base64");
}

/** The key in canonical base64; `where` names its source for the message. */
export function parseStateKey(text: string, where: string): string {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, "base64") : Buffer.alloc(0);
  if (bytes.length !== STATE_KEY_BYTES) {
    throw new InvalidStateKey(`${where} must be ${STATE_KEY_BYTES} random bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
  }
  return bytes.toString("base64");
}

/** A key's file name: a digest, which says nothing about the key. */
export function stateKeyId(key: string): string {
  return createHash("sha256").update("ptm-state-key\0").update(key).digest("hex").slice(0, 16);
}

export class StateKeyFiles {
  private readonly written = new Map<string, Promise<string>>();

  constructor(private readonly dir: string) {}

  /** Each key's file path, written once per key and process (write to a temporary name, then rename). */
  fileFor(key: string): Promise<string> {
    const id = stateKeyId(key);
    let pending = this.written.get(id);
    if (!pending) {
      pending = this.write(id, key);
      pending.catch(() => this.written.delete(id));
      this.written.set(id, pending);
    }
    return pending;
  }

  /** TF_ENCRYPTION for these keys (plus what KeyEncryptionOptions adds). */
  async config(keys: StateKeys, extra: { previousPassphrase?: string; readPlaintext?: boolean } = {}): Promise<string> {
    const [currentKeyFile, ...previousKeyFiles] = await Promise.all([keys.current, ...keys.previous.filter((k) => k !== keys.current)].map((k) => this.fileFor(k)));
    return keyEncryptionConfig({ currentKeyFile: currentKeyFile!, previousKeyFiles, ...extra });
  }

  private async write(id: string, key: string): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${id}.key`);
    const existing = await readFile(file, "utf8").catch(() => undefined);
    if (existing === key) return file;
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    await writeFile(temporary, key, { mode: 0o600 });
    await rename(temporary, file);
    return file;
  }
}
