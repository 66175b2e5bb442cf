/**
 * One initialised data directory (TF_DATA_DIR) per (tool binary, backend settings, required
 * providers, CLI configuration), shared by every VM's work directory. `init` runs once per key;
 * plans and applies read the directory and never write to it (the selected workspace comes
 * from TF_WORKSPACE, not from `.terraform/environment`), so any number of runs use it at once.
 * Each work directory gets a copy of the key's dependency lock file, which tofu reads from the
 * working directory.
 *
 * A directory is initialised under a temporary name and renamed into place, so another process
 * sharing the work root never sees half of one; the one that renames first wins.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { access, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ProviderBinary } from "./provider-servers.js";

export const LOCK_FILE = ".terraform.lock.hcl";
const CONFIG_FILE = "main.tf.json";
const READY_FILE = ".ptm-ready";
const ROOT = ".tofu-init";

export interface SharedInitTarget {
  /** The directory init runs in (holds main.tf.json with the terraform block only, and the lock file). */
  dir: string;
  /** Its TF_DATA_DIR. */
  dataDir: string;
  /** The dependency lock file to copy into work directories. */
  lockFile: string;
}

export interface ToolIdentity {
  binary: string;
  cliConfigFile?: string;
  pluginCacheDir?: string;
}

/** The `terraform` block of a configuration: backend and required providers, what init acts on. */
export function terraformBlockOf(configJson: string): unknown {
  const parsed = JSON.parse(configJson) as { terraform?: unknown };
  return parsed.terraform ?? {};
}

export class SharedInits {
  private readonly toolFingerprint: string;
  private readonly pending = new Map<string, Promise<SharedInitTarget>>();

  constructor(
    private readonly workdirRoot: string,
    tool: ToolIdentity,
  ) {
    // The binary's size and mtime stand for its version (a new tofu build or upgrade changes them).
    const binary = statOrNull(tool.binary);
    const cliConfig = tool.cliConfigFile ? readOrEmpty(tool.cliConfigFile) : "";
    this.toolFingerprint = JSON.stringify([tool.binary, binary?.size, binary?.mtimeMs, cliConfig, tool.pluginCacheDir ?? ""]);
  }

  /** Where the key of this configuration's terraform block lives (initialised or not). */
  targetFor(configJson: string): SharedInitTarget {
    const key = createHash("sha256").update(this.toolFingerprint).update(JSON.stringify(terraformBlockOf(configJson))).digest("hex").slice(0, 24);
    const dir = path.join(this.workdirRoot, ROOT, key);
    return { dir, dataDir: path.join(dir, ".terraform"), lockFile: path.join(dir, LOCK_FILE) };
  }

  /**
   * The initialised directory for this configuration; `init(dir)` runs tofu init in a fresh
   * directory when none is there yet (once per key in this process, however many runs ask).
   */
  async ensure(configJson: string, init: (dir: string) => Promise<void>): Promise<SharedInitTarget> {
    const target = this.targetFor(configJson);
    if (await exists(path.join(target.dir, READY_FILE))) return target;
    let pending = this.pending.get(target.dir);
    if (!pending) {
      pending = this.initialise(target, configJson, init).finally(() => this.pending.delete(target.dir));
      this.pending.set(target.dir, pending);
    }
    return pending;
  }

  private async initialise(target: SharedInitTarget, configJson: string, init: (dir: string) => Promise<void>): Promise<SharedInitTarget> {
    if (await exists(path.join(target.dir, READY_FILE))) return target;
    // A directory without the marker is an init that did not finish: start again.
    await rm(target.dir, { recursive: true, force: true });
    const scratch = `${target.dir}.${randomUUID()}`;
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    try {
      await writeFile(path.join(scratch, CONFIG_FILE), JSON.stringify({ terraform: terraformBlockOf(configJson) }), { mode: 0o600 });
      await init(scratch);
      await writeFile(path.join(scratch, READY_FILE), new Date().toISOString());
      try {
        await rename(scratch, target.dir);
      } catch (error) {
        // Another process renamed its directory into place first: use that one.
        if (!(await exists(path.join(target.dir, READY_FILE)))) throw error;
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return target;
  }
}

function statOrNull(file: string): { size: number; mtimeMs: number } | null {
  try {
    return statSync(file);
  } catch {
    return null; // A name looked up on PATH: the name stands for itself.
  }
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * The provider binaries init installed in a data directory, with the addresses tofu knows them
 * by (`providers/<host>/<namespace>/<type>/<version>/<os_arch>/terraform-provider-*`).
 */
export async function providerBinaries(dataDir: string): Promise<ProviderBinary[]> {
  const root = path.join(dataDir, "providers");
  const found: ProviderBinary[] = [];
  for (const host of await subdirs(root)) {
    for (const namespace of await subdirs(path.join(root, host))) {
      for (const type of await subdirs(path.join(root, host, namespace))) {
        for (const version of await subdirs(path.join(root, host, namespace, type))) {
          for (const platform of await subdirs(path.join(root, host, namespace, type, version))) {
            const dir = path.join(root, host, namespace, type, version, platform);
            const binary = (await readdir(dir)).find((f) => f.startsWith("terraform-provider-"));
            if (binary) found.push({ address: `${host}/${namespace}/${type}`, path: path.join(dir, binary) });
          }
        }
      }
    }
  }
  return found;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    // Symbolic links count: init links providers in from a filesystem mirror.
    return entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => e.name);
  } catch {
    return [];
  }
}
