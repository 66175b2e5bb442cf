import { describe, expect, it } from "vitest";
import { minimal, spec } from "../../test/synth/vm-specs.js";
import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { SynthesisResult } from "../synth/synthesis-input.js";
import { StackHasher } from "./stack-hasher.js";

const VERSIONS = { providerVersion: "0.111.1", toolVersion: "tofu 1.12.6", stateSchema: "terraform_remote_state" };
const ENDPOINT = "https://pve.example:8006/";

/** The real hasher, counting how often it synthesizes. */
class CountingHasher extends StackHasher {
  syntheses = 0;
  override synthesize(vm: ProxmoxVMObject, vmSpec: ProxmoxVMSpec, endpoint: string, options: { allowDestroy?: boolean } = {}): SynthesisResult {
    this.syntheses++;
    return super.synthesize(vm, vmSpec, endpoint, options);
  }
}

function vm(uid: string, generation: number | undefined, vmId?: number): ProxmoxVMObject {
  return {
    apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
    kind: "ProxmoxVM",
    metadata: { namespace: "ns", name: `vm-${uid}`, uid, ...(generation !== undefined ? { generation } : {}) },
    spec: minimal,
    ...(vmId !== undefined ? { status: { vmId } } : {}),
  } as ProxmoxVMObject;
}

describe("StackHasher memo", () => {
  it("synthesizes an unchanged VM once and answers again with the same hash", () => {
    const hasher = new CountingHasher(VERSIONS);
    const first = hasher.hash(vm("a", 1, 100), minimal, ENDPOINT);
    const again = hasher.hash(vm("a", 1, 100), minimal, ENDPOINT);
    expect(first.ok && again.ok && again.hash === first.hash).toBe(true);
    expect(hasher.syntheses).toBe(1);
  });

  it("synthesizes again when the generation, the endpoint or the pinned VM id changes, and the hash follows", () => {
    const hasher = new CountingHasher(VERSIONS);
    const bigger = spec({ nodeName: "pve1", clone: { vmId: 9000 }, memory: { dedicated: 4096 } });
    const base = hasher.hash(vm("a", 1), minimal, ENDPOINT);
    const newGeneration = hasher.hash(vm("a", 2), bigger, ENDPOINT);
    const newEndpoint = hasher.hash(vm("a", 2), bigger, "https://other.example:8006/");
    const pinned = hasher.hash(vm("a", 2, 123), bigger, "https://other.example:8006/");
    expect(hasher.syntheses).toBe(4);
    const hashes = [base, newGeneration, newEndpoint, pinned].map((o) => (o.ok ? o.hash : o.message));
    expect(new Set(hashes).size).toBe(4);
    // Each answer is what a fresh hasher computes (the memo never returns another key's hash).
    expect(new StackHasher(VERSIONS).hash(vm("a", 2, 123), bigger, "https://other.example:8006/")).toEqual(pinned);
  });

  it("keeps one entry per uid, drops it when the VM is forgotten, and stays within its bound", () => {
    const hasher = new CountingHasher(VERSIONS, 2);
    hasher.hash(vm("a", 1), minimal, ENDPOINT);
    hasher.hash(vm("a", 2), minimal, ENDPOINT);
    expect(hasher.memoSize).toBe(1);
    hasher.hash(vm("b", 1), minimal, ENDPOINT);
    hasher.forget("a");
    expect(hasher.memoSize).toBe(1);
    hasher.hash(vm("a", 2), minimal, ENDPOINT);
    expect(hasher.syntheses).toBe(4);
    hasher.hash(vm("c", 1), minimal, ENDPOINT);
    expect(hasher.memoSize).toBe(2);
    // The oldest entry ("b") made room: asking for it synthesizes again.
    const before = hasher.syntheses;
    hasher.hash(vm("b", 1), minimal, ENDPOINT);
    expect(hasher.syntheses).toBe(before + 1);
  });

  it("does not remember a VM without a generation (nothing to key it by)", () => {
    const hasher = new CountingHasher(VERSIONS);
    hasher.hash(vm("a", undefined), minimal, ENDPOINT);
    hasher.hash(vm("a", undefined), minimal, ENDPOINT);
    expect(hasher.syntheses).toBe(2);
    expect(hasher.memoSize).toBe(0);
  });

  it("remembers a spec that cannot be synthesized as the same failure", () => {
    const hasher = new CountingHasher(VERSIONS);
    const impossible = spec({ nodeName: "pve1", clone: { vmId: 9000 }, tags: ["ptm-owner-0b5b2f55-8f0c-4f7e-9a43-7d1f0e0c2a11"] });
    const first = hasher.hash(vm("a", 1), impossible, ENDPOINT);
    const again = hasher.hash(vm("a", 1), impossible, ENDPOINT);
    expect(first.ok).toBe(false);
    expect(again).toEqual(first);
    expect(hasher.syntheses).toBe(1);
  });
});
