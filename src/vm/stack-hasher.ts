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

export type HashOutcome = { ok: true; hash: string; result: SynthesisResult } | { ok: false; message: string };

/**
 * Synthesizes a VM's stack the same way the controller and the workers do, so the hash the
 * controller compares is the hash the worker recorded after its apply.
 */
export class StackHasher {
  constructor(private readonly versions: StackVersions) {}

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

  hash(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, endpoint: string): HashOutcome {
    try {
      const result = this.synthesize(vm, spec, endpoint);
      return { ok: true, hash: result.hash, result };
    } catch (error) {
      if (error instanceof SynthesisError) return { ok: false, message: error.message };
      throw error;
    }
  }
}
