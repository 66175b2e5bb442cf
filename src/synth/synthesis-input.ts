import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";

/** Everything one VM's Terraform configuration is derived from. */
export interface SynthesisInput {
  /** The ProxmoxVM's identity: `name` is the VM name unless spec.name overrides it. */
  namespace: string;
  name: string;
  /** Already validated (and defaulted) by ProxmoxVMSpecSchema. */
  spec: ProxmoxVMSpec;
  /** VM id pinned in status once known; overrides spec.vmId so the VM is never re-created. */
  vmId?: number;
  /** Exact bpg/proxmox version, e.g. "0.111.1". */
  providerVersion: string;
  /** e.g. "tofu 1.12.6"; not in the JSON, only in the hash (a new tool may plan differently). */
  toolVersion: string;
  /**
   * The connection's API URL: not in the JSON (tofu gets it from the environment) but in the hash,
   * so pointing a connection at another Proxmox makes its VMs plan again.
   */
  endpoint?: string;
  /** Schema of the pg backend; default DEFAULT_STATE_SCHEMA. */
  stateSchema?: string;
  /**
   * metadata.uid of the ProxmoxVM: the VM then carries its ownership tag (`ptm-owner-<uid>`,
   * stacks/ownership-marker.ts). Pass it on every run; leaving it out removes the tag.
   */
  uid?: string;
  /**
   * True for a deletion run (and for explaining a refused plan, see src/terraform/replacement.ts):
   * the VM resource then has no `lifecycle.prevent_destroy`. Default false: every other run
   * refuses a plan that would destroy or replace the VM, unless spec.allowReplacement is set.
   */
  allowDestroy?: boolean;
}

export interface SynthesisResult {
  /** Canonical Terraform JSON: keys sorted, 2-space indent; byte-identical for equal input. */
  json: string;
  /** `json` parsed. */
  config: Record<string, unknown>;
  /** sha256 hex over json, providerVersion, toolVersion and endpoint (see synthesis-hash.ts). */
  hash: string;
  /** Variables the worker must pass as TF_VAR_<name>, e.g. ["cloud_init_password"]. */
  secretVariables: string[];
}

export const DEFAULT_STATE_SCHEMA = "ptm_tfstate";
