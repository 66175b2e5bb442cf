import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthesizeVmStack } from "../../src/synth/synthesize.js";
import { platformEnv } from "../support/platform-env.js";
import { tofu, tofuWorkdir } from "../support/tofu.js";
import { matrix, synthesisInput } from "./vm-specs.js";

interface Validation {
  valid: boolean;
  error_count: number;
  warning_count: number;
  diagnostics: { severity: string; summary: string; detail: string }[];
}

/** Real tofu + the real bpg/proxmox provider judge every matrix case: no errors, no warnings. */
describe("synthesized stacks validate with the real provider", () => {
  const providerVersion = () => platformEnv().PTM_PROVIDER_VERSION;
  let dir: string;

  // One init for the whole file (the provider is the same for every case); each case then only
  // swaps main.tf.json. -backend=false: validation needs no state, the pg backend has its own test.
  beforeAll(async () => {
    dir = await tofuWorkdir(synthesizeVmStack(synthesisInput(matrix.minimal!, { providerVersion: providerVersion() })).config, "ptm-synth-");
    const init = await tofu(dir, ["init", "-backend=false", "-input=false", "-no-color"]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(Object.entries(matrix))("%s", async (_name, vmSpec) => {
    const { json } = synthesizeVmStack(synthesisInput(vmSpec, { providerVersion: providerVersion() }));
    await writeFile(path.join(dir, "main.tf.json"), json);
    const result = await tofu(dir, ["validate", "-json", "-no-color"]);
    const validation = JSON.parse(result.stdout) as Validation;
    expect(validation.diagnostics.map((d) => `${d.severity}: ${d.summary}: ${d.detail}`)).toEqual([]);
    expect(validation).toMatchObject({ valid: true, error_count: 0, warning_count: 0 });
    expect(result.code).toBe(0);
  });
});
