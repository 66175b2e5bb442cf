/**
 * A fast slice of the bpg provider's own VM acceptance tests (../shared/provider-acc/run.sh),
 * written by its authors against real Proxmox VE, run with real tofu against the simulator:
 * clone, disks imported from a downloaded cloud image over the node's SSH, network devices,
 * cloud-init (snippets uploaded over SSH), import of existing VMs and password login. The full
 * suite stays a script (about 8 minutes); this keeps a regression in those areas visible in CI.
 *
 * The cloud image comes from the loopback image mirror (no internet here); root's password and
 * the node's SSH come from test/simulator/provider-acc-seed.yaml.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startImageMirror, type ImageMirror } from "../../src/simulator/image-mirror.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";

const RUN_SH = path.resolve(repoRoot, "../shared/provider-acc/run.sh");
const SEED = path.join(repoRoot, "test/simulator/provider-acc-seed.yaml");
const ROOT_PASSWORD = "provacc-password";
const TOP_LEVEL = [
  "TestAccResourceVMClone",
  "TestAccResourceVMDiskResizeWithOptionChange",
  "TestAccResourceVMNetwork",
  "TestAccResourceVMInitialization",
  "TestAccResourceVMImport",
  "TestProviderAuth",
];

/** Leaves (tests without subtests) of summary.tsv with their results. */
function leaves(summary: string): Map<string, string> {
  const rows = summary.trim().split("\n").slice(1).map((line) => line.split("\t"));
  const names = rows.map((r) => r[1] as string);
  const out = new Map<string, string>();
  for (const r of rows) {
    const name = r[1] as string;
    if (!names.some((n) => n.startsWith(`${name}/`))) out.set(name, r[2] as string);
  }
  return out;
}

// ../shared sits beside every clone here and in CI; only a checkout elsewhere may lack it, and CI
// must never pass by skipping.
const available = existsSync(RUN_SH);
if (!available && process.env.CI) throw new Error(`${RUN_SH} is missing: the provider's acceptance tests cannot run`);

describe.skipIf(!available)("the provider's acceptance tests (fast slice)", () => {
  let mirror: ImageMirror;
  let out: string;

  beforeAll(async () => {
    mirror = await startImageMirror();
    out = await mkdtemp(path.join(os.tmpdir(), "ptm-provider-acc-"));
  });

  afterAll(async () => {
    await mirror?.close();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("passes every leaf of the clone, disk import, network, cloud-init, import and login tests", async () => {
    const env = {
      ...process.env,
      WORK: path.join(os.homedir(), ".cache/proxmox-terraform-manager/provider-acc"),
      OUT_DIR: out,
      SEED,
      TOFU: platformEnv().TOFU_BIN,
      PARALLEL: "2",
      SIM_PORT: "18016",
      ROOT_PASSWORD,
      PROXMOX_VE_SSH_PASSWORD: ROOT_PASSWORD,
      PROXMOX_VE_ACC_CLOUD_IMAGES_SERVER: mirror.url,
    };
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(RUN_SH, ["-run", TOP_LEVEL.join("|")], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.resume();
      child.stderr.resume();
      child.on("error", reject);
      child.on("close", (c) => resolve(c ?? 1));
    });
    const summaryFile = path.join(out, "summary.tsv");
    expect(existsSync(summaryFile), `run.sh exited ${code} without a summary`).toBe(true);
    const results = leaves(readFileSync(summaryFile, "utf8"));
    const mine = [...results].filter(([name]) => TOP_LEVEL.includes(name.split("/")[0] as string));
    // Every top-level test ran and reported leaves.
    expect(new Set(mine.map(([name]) => name.split("/")[0]))).toEqual(new Set(TOP_LEVEL));
    const notPassing = mine.filter(([, result]) => result !== "pass");
    expect(notPassing, readFileSync(summaryFile, "utf8")).toEqual([]);
    expect(mine.length).toBeGreaterThanOrEqual(30);
  }, 1_800_000);
});
