import { Construct } from "constructs";
import { ProxmoxVmStack } from "../../stacks/proxmox-vm-stack.js";
import { canonicalJson } from "./canonical-json.js";
import type { SynthesisInput, SynthesisResult } from "./synthesis-input.js";
import { synthesisHash } from "./synthesis-hash.js";

export { DEFAULT_STATE_SCHEMA, type SynthesisInput, type SynthesisResult } from "./synthesis-input.js";
export { SynthesisError } from "./synthesis-error.js";
export { workspaceName } from "./workspace-name.js";
export { OWNERSHIP_TAG_PREFIX, ownershipTag, ownerUidOfTag } from "../../stacks/ownership-marker.js";

/** Fixed stack id: it only appears in the stripped metadata, but keeps construct paths identical. */
const STACK_ID = "proxmox-vm";

/**
 * ProxmoxVM → Terraform JSON, in memory. Pure: no files, no environment, no clock; runs on every
 * reconcile. Throws SynthesisError for a spec it cannot express.
 */
export function synthesizeVmStack(input: SynthesisInput): SynthesisResult {
  // A bare construct as root instead of cdktn's App: App creates its output directory on
  // construction and reads context from the environment, and toTerraform() needs neither.
  const root = new Construct(undefined as unknown as Construct, "");
  let stack: ProxmoxVmStack;
  let json: string;
  try {
    stack = new ProxmoxVmStack(root, STACK_ID, input);
    json = canonicalJson(stack.toTerraform());
  } finally {
    forgetTokens();
  }
  return {
    json,
    config: JSON.parse(json) as Record<string, unknown>,
    hash: synthesisHash(json, input.providerVersion, input.toolVersion, input.endpoint),
    secretVariables: [...stack.secretVariables],
  };
}

/**
 * cdktn registers every token a synthesis makes in a process-wide map (globalThis.__cdktfTokenMap)
 * and never lets go: about 17 KB per stack, so a controller holding 10,000 VMs grew by 170 MB
 * per round of syntheses. A synthesis here is synchronous and its tokens are resolved into the
 * JSON before it returns, so they are dropped right after (the counter goes on, so no later
 * token string repeats an earlier one).
 */
function forgetTokens(): void {
  const tokens = (globalThis as { __cdktfTokenMap?: { stringTokenMap?: Map<unknown, unknown>; numberTokenMap?: Map<unknown, unknown> } }).__cdktfTokenMap;
  tokens?.stringTokenMap?.clear();
  tokens?.numberTokenMap?.clear();
}
