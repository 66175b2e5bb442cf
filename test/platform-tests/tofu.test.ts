import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { platformEnv } from "../support/platform-env.js";
import { tofu, tofuWorkdir } from "../support/tofu.js";

function configWith(vmAttributes: Record<string, unknown>) {
  return {
    terraform: {
      required_providers: {
        proxmox: { source: "bpg/proxmox", version: platformEnv().PTM_PROVIDER_VERSION },
      },
    },
    provider: { proxmox: { endpoint: "https://127.0.0.1:8006/", insecure: true } },
    resource: {
      proxmox_virtual_environment_vm: {
        smoke: { node_name: "pve1", name: "smoke", ...vmAttributes },
      },
    },
  };
}

describe("OpenTofu with the bpg/proxmox provider, offline", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("initializes from the filesystem mirror and validates a VM config", async () => {
    const dir = await tofuWorkdir(configWith({ cpu: { cores: 2 }, memory: { dedicated: 2048 } }));
    dirs.push(dir);
    const init = await tofu(dir, ["init", "-input=false", "-no-color"]);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`Installing bpg/proxmox v${platformEnv().PTM_PROVIDER_VERSION}`);

    const validate = await tofu(dir, ["validate", "-json"]);
    const result = JSON.parse(validate.stdout) as { valid: boolean; error_count: number };
    expect(result).toMatchObject({ valid: true, error_count: 0 });
  });

  it("reports an attribute the provider does not know", async () => {
    const dir = await tofuWorkdir(configWith({ cpu: { cores: 2, hyperthreads: 4 } }));
    dirs.push(dir);
    expect((await tofu(dir, ["init", "-input=false", "-no-color"])).code).toBe(0);
    const validate = await tofu(dir, ["validate", "-json"]);
    const result = JSON.parse(validate.stdout) as { valid: boolean; diagnostics: { summary: string; detail: string }[] };
    expect(result.valid).toBe(false);
    expect(result.diagnostics.map((d) => `${d.summary} ${d.detail}`).join("\n")).toMatch(/hyperthreads/);
  });

  it("lists proxmox_virtual_environment_vm in the provider schema", async () => {
    const dir = await tofuWorkdir(configWith({}));
    dirs.push(dir);
    expect((await tofu(dir, ["init", "-input=false", "-no-color"])).code).toBe(0);
    const schema = await tofu(dir, ["providers", "schema", "-json"]);
    expect(schema.code).toBe(0);
    const parsed = JSON.parse(schema.stdout) as {
      provider_schemas: Record<string, { resource_schemas: Record<string, { block: { attributes: Record<string, unknown> } }> }>;
    };
    const provider = parsed.provider_schemas["registry.opentofu.org/bpg/proxmox"];
    expect(provider).toBeDefined();
    const vm = provider!.resource_schemas["proxmox_virtual_environment_vm"];
    expect(vm).toBeDefined();
    expect(Object.keys(vm!.block.attributes)).toEqual(expect.arrayContaining(["node_name", "vm_id", "name", "tags"]));
  });
});
