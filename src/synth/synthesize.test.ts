import { describe, expect, it } from "vitest";
import { full, matrix, minimal, spec, synthesisInput } from "../../test/synth/vm-specs.js";
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import { DEFAULT_STATE_SCHEMA, SynthesisError, synthesizeVmStack, workspaceName } from "./synthesize.js";

/** The same value with every object's keys in reverse order. */
function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reverseKeys) as T;
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .reverse()
      .map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]),
  ) as T;
}

function keysEverywhere(value: unknown, keys: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => keysEverywhere(v, keys));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      keys.push(k);
      keysEverywhere(v, keys);
    }
  }
  return keys;
}

describe("synthesizeVmStack", () => {
  it("is deterministic: equal input gives byte-identical JSON and hash", () => {
    for (const vmSpec of Object.values(matrix)) {
      const a = synthesizeVmStack(synthesisInput(vmSpec));
      const b = synthesizeVmStack(synthesisInput(structuredClone(vmSpec)));
      expect(b.json).toBe(a.json);
      expect(b.hash).toBe(a.hash);
    }
  });

  it("does not depend on the key order of the input", () => {
    const a = synthesizeVmStack(synthesisInput(full));
    const b = synthesizeVmStack(reverseKeys(synthesisInput(full)));
    expect(b.json).toBe(a.json);
    expect(b.hash).toBe(a.hash);
  });

  it("emits canonical JSON: sorted keys, 2-space indent, no cdktn metadata", () => {
    const { json, config } = synthesizeVmStack(synthesisInput(full));
    expect(json).toBe(JSON.stringify(config, null, 2));
    expect(Object.keys(config)).toEqual(["output", "provider", "resource", "terraform", "variable"]);
    expect(keysEverywhere(config)).not.toContain("//");
    const sortedEverywhere = (v: unknown): boolean =>
      Array.isArray(v)
        ? v.every(sortedEverywhere)
        : v === null || typeof v !== "object"
          ? true
          : Object.keys(v).join() === Object.keys(v).sort().join() && Object.values(v).every(sortedEverywhere);
    expect(sortedEverywhere(config)).toBe(true);
  });

  it("changes the hash with the spec, the provider version and the tool version", () => {
    const base = synthesizeVmStack(synthesisInput(full));
    const hashes = [
      base.hash,
      synthesizeVmStack(synthesisInput({ ...full, cpu: { ...full.cpu, cores: 8 } })).hash,
      synthesizeVmStack(synthesisInput(full, { providerVersion: "0.112.0" })).hash,
      synthesizeVmStack(synthesisInput(full, { toolVersion: "tofu 1.12.7" })).hash,
      synthesizeVmStack(synthesisInput(full, { stateSchema: "other" })).hash,
      synthesizeVmStack(synthesisInput(full, { vmId: 999 })).hash,
    ];
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(base.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps the hash when only operator-only fields or the tag order change", () => {
    const base = synthesizeVmStack(synthesisInput(full)).hash;
    const operatorOnly: ProxmoxVMSpec = {
      ...full,
      connectionRef: { name: "elsewhere" },
      deletionPolicy: "Delete",
      approval: "Auto",
      driftDetection: undefined,
      suspend: false,
      managementPolicy: "Full",
      tags: [...(full.tags ?? [])].reverse(),
    };
    expect(synthesizeVmStack(synthesisInput(operatorOnly)).hash).toBe(base);
  });

  it("pins required_providers to the exact provider version", () => {
    const { config } = synthesizeVmStack(synthesisInput(minimal, { providerVersion: "0.111.1" }));
    expect((config.terraform as Record<string, unknown>).required_providers).toEqual({
      proxmox: { source: "bpg/proxmox", version: "0.111.1" },
    });
  });

  it("declares the pg backend without a connection string, in the default or the given schema", () => {
    const backendOf = (stateSchema?: string) =>
      (synthesizeVmStack(synthesisInput(minimal, { stateSchema })).config.terraform as Record<string, unknown>).backend;
    expect(backendOf()).toEqual({ pg: { schema_name: DEFAULT_STATE_SCHEMA } });
    expect(DEFAULT_STATE_SCHEMA).toBe("ptm_tfstate");
    expect(backendOf("tenant_b")).toEqual({ pg: { schema_name: "tenant_b" } });
  });

  it("configures the provider with nothing: no endpoint, no credentials", () => {
    const { config } = synthesizeVmStack(synthesisInput(full));
    expect(config.provider).toEqual({ proxmox: [{}] });
    expect(JSON.stringify(config)).not.toMatch(/endpoint|api_token|PVEAPIToken|conn_str|postgres:\/\//);
  });

  it("references the cloud-init password through a sensitive variable the worker sets", () => {
    const result = synthesizeVmStack(synthesisInput(full));
    expect(result.config.variable).toEqual({ cloud_init_password: { type: "string", sensitive: true } });
    expect(result.secretVariables).toEqual(["cloud_init_password"]);
    expect(result.json).toContain('"password": "${var.cloud_init_password}"');
    // The Secret reference itself is the operator's business, not Terraform's.
    expect(result.json).not.toContain("web-1-password");
    expect(result.json).not.toContain("passwordSecretRef");
  });

  it("declares no variable when no password is referenced", () => {
    const result = synthesizeVmStack(synthesisInput(minimal));
    expect(result.config.variable).toBeUndefined();
    expect(result.secretVariables).toEqual([]);
  });

  it("refuses a spec tag that poses as the ownership marker, naming the field", () => {
    const posing = spec({ nodeName: "pve1", clone: { vmId: 9000 }, tags: ["web", "ptm-owner-0b5b2f55-8f0c-4f7e-9a43-7d1f0e0c2a11"] });
    const attempt = () => synthesizeVmStack(synthesisInput(posing));
    expect(attempt).toThrow(SynthesisError);
    expect(attempt).toThrow(expect.objectContaining({ field: "spec.tags" }));
  });

  it("has no custom user-data field: a manifest naming one is refused, not accepted and ignored", () => {
    const parsed = ProxmoxVMSpecSchema.safeParse({
      connectionRef: { name: "pve" },
      nodeName: "pve1",
      clone: { vmId: 9000 },
      initialization: { userDataSecretRef: { name: "user-data", key: "cloud-init.yaml" } },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ code: "unrecognized_keys", keys: ["userDataSecretRef"], path: ["initialization"] });
  });

  it("never synthesizes operator-only fields", () => {
    const { json } = synthesizeVmStack(synthesisInput(full));
    for (const text of ["connection", "pve-prod", "deletion", "Orphan", "approval", "Manual", "drift", "suspend", "ObserveOnly", "30m"]) {
      expect(json).not.toContain(text);
    }
  });

  it("declares the outputs the operator reads back", () => {
    const { config } = synthesizeVmStack(synthesisInput(minimal));
    expect(config.output).toEqual({
      vm_id: { value: "${proxmox_virtual_environment_vm.vm.vm_id}" },
      node_name: { value: "${proxmox_virtual_environment_vm.vm.node_name}" },
      ipv4_addresses: {
        value: expect.stringContaining("proxmox_virtual_environment_vm.vm.ipv4_addresses"),
      },
      ipv6_addresses: {
        value: expect.stringContaining("proxmox_virtual_environment_vm.vm.ipv6_addresses"),
      },
      mac_addresses: { value: "${proxmox_virtual_environment_vm.vm.mac_addresses}" },
    });
  });

  it("does not encode the namespace or workspace; workspaceName does", () => {
    const a = synthesizeVmStack(synthesisInput(full, { namespace: "team-a" }));
    const b = synthesizeVmStack(synthesisInput(full, { namespace: "team-b" }));
    expect(b.json).toBe(a.json);
    expect(workspaceName("team-a", "web-1")).toBe("team-a.web-1");
  });

  it("returns config equal to the parsed JSON", () => {
    const result = synthesizeVmStack(synthesisInput(full));
    expect(result.config).toEqual(JSON.parse(result.json));
  });
});
