import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import { synthesizeVmStack } from "../synth/synthesize.js";
import { SynthesisError } from "../synth/synthesis-error.js";
import type { SynthesisResult } from "../synth/synthesis-input.js";

export interface StackVersions {
  providerVersion: string;
  toolVersion: string;
  stateSchema: string;
}

export type HashOutcome = { ok: true; hash: string } | { ok: false; message: string };

/** Bound on remembered hashes; far above any fleet one controller serves, it only caps a leak. */
const DEFAULT_MEMO_LIMIT = 100_000;

/**
 * Synthesizes a VM's stack the same way the controller and the workers do, so the hash the
 * controller compares is the hash the worker recorded after its apply.
 */
export class StackHasher {
  /**
   * uid → the hash of the stack at one (generation, endpoint, pinned VM id). The stack is a pure
   * function of those and of the VM's name, namespace and uid (fixed for a uid) and of the
   * versions (fixed for this hasher), so a resync that meets an unchanged VM need not
   * synthesize it again. Only the hash is kept, not the stack, so memory stays small.
   */
  private readonly memo = new Map<string, { key: string; outcome: HashOutcome }>();

  constructor(
    private readonly versions: StackVersions,
    private readonly memoLimit = DEFAULT_MEMO_LIMIT,
  ) {}

  /**
   * `endpoint` is the connection's API URL: not in the JSON (tofu gets it from the environment)
   * but in the hash, so pointing a connection at another Proxmox makes its VMs plan again.
   */
  synthesize(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, endpoint: string, options: { allowDestroy?: boolean } = {}): SynthesisResult {
    return synthesizeVmStack({
      namespace: vm.metadata.namespace,
      name: vm.metadata.name,
      uid: vm.metadata.uid,
      // Only a deletion may plan the VM's destruction: every other run carries prevent_destroy.
      allowDestroy: options.allowDestroy ?? false,
      spec,
      ...(vm.status?.vmId !== undefined ? { vmId: vm.status.vmId } : {}),
      providerVersion: this.versions.providerVersion,
      toolVersion: this.versions.toolVersion,
      endpoint,
      stateSchema: this.versions.stateSchema,
    });
  }

  /** `spec` must be the parsed `vm.spec` of `vm.metadata.generation` (what the memo is keyed by). */
  hash(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, endpoint: string): HashOutcome {
    const { uid, generation } = vm.metadata;
    const key = generation === undefined ? undefined : JSON.stringify([generation, endpoint, vm.status?.vmId ?? null]);
    const remembered = this.memo.get(uid);
    if (key !== undefined && remembered?.key === key) return remembered.outcome;
    const outcome = this.hashAfresh(vm, spec, endpoint);
    if (key !== undefined) {
      this.memo.delete(uid);
      if (this.memo.size >= this.memoLimit) this.memo.delete(this.memo.keys().next().value!);
      this.memo.set(uid, { key, outcome });
    }
    return outcome;
  }

  /** A deleted VM's hash is not needed again. */
  forget(uid: string): void {
    this.memo.delete(uid);
  }

  get memoSize(): number {
    return this.memo.size;
  }

  private hashAfresh(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, endpoint: string): HashOutcome {
    try {
      return { ok: true, hash: this.synthesize(vm, spec, endpoint).hash };
    } catch (error) {
      if (error instanceof SynthesisError) return { ok: false, message: error.message };
      throw error;
    }
  }
}
