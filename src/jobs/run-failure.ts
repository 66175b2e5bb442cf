import { Reason } from "../api/conditions.js";
import type { RunReason } from "../queue/run-queue.js";
import { describeFailure, type FailureProblem } from "../terraform/classify-error.js";
import { TerraformError } from "../terraform/terraform-error.js";
import type { FailedRunStatus } from "../vm/status.js";

export interface FailureInput {
  error: unknown;
  /** 1-based: the attempt that failed. */
  attempt: number;
  maxAttempts: number;
  /** For the hint's "ask for a run" command. */
  namespace: string;
  name: string;
  /** Why the run was queued: a drift check is told apart from a change. */
  runReason?: RunReason;
}

export interface RunFailure extends FailedRunStatus {
  /** tofu's (or the error's) own words: what the run record stores. */
  message: string;
  /** transient, permanent, lock, timeout, aborted, or error (not a tofu failure). */
  kind: string;
  /** Whether the queue should try this job again (with backoff). */
  retry: boolean;
  /**
   * A drift check that could not reach the VM's node: it says nothing about the VM, so the VM
   * stays as Ready as it was (only its last run and an Event tell), and the next drift check waits
   * its interval (by then the connection check has seen the node offline and holds it back).
   */
  keepsReady: boolean;
}

const REASON_OF_PROBLEM: Record<FailureProblem, Reason> = {
  "storage-full": Reason.InsufficientStorage,
  "lock-timeout": Reason.LockTimeout,
  "replacement-required": Reason.ReplacementRequired,
  authentication: Reason.AuthenticationFailed,
  "permission-denied": Reason.PermissionDenied,
  "vm-not-found": Reason.CloneSourceNotFound,
  "node-not-found": Reason.NodeNotFound,
  "storage-not-found": Reason.StorageNotFound,
  "bridge-not-found": Reason.BridgeNotFound,
  "node-offline": Reason.NodeOffline,
};

/**
 * A failed run → what status says and whether it retries. Pure. The kind and problem come from the
 * one error table (src/terraform/classify-error.ts): a TerraformError carries them; any other
 * error's text is looked up there too, for its problem only (it stays retryable).
 */
export function classifyRunFailure({ error, attempt, maxAttempts, namespace, name, runReason }: FailureInput): RunFailure {
  const te = error instanceof TerraformError ? error : undefined;
  const message = te?.message ?? (error instanceof Error ? error.message : String(error));
  const problem = te ? te.problem : describeFailure({ texts: [message] }).problem;
  // The token or an offline node, not the spec, is at fault: no retries (they would fail the same
  // way) and no Stalled; the controller re-checks the connection and queues a run once it passes.
  const waitsOnConnection = problem === "authentication" || problem === "permission-denied" || problem === "node-offline";
  const permanent = te?.kind === "permanent" && !waitsOnConnection;
  const lastAttempt = permanent || waitsOnConnection || attempt >= maxAttempts;
  const reason = problem ? REASON_OF_PROBLEM[problem] : Reason.ApplyFailed;
  const hint = te?.hint ?? (problem ? describeFailure({ texts: [message] }).hint : undefined);
  const keepsReady = runReason === "drift" && problem === "node-offline";
  const detail = keepsReady
    ? `${message} — ${hint}; this was a drift check: the VM is left as it was, and drift checks wait until the node is back`
    : waitsOnConnection
    ? `${message} — ${hint}; the operator checks the ProxmoxConnection again and runs once ${problem === "node-offline" ? "the node is back" : "it passes"}`
    : permanent
    ? te?.hint
      ? `${message} — ${te.hint}. Retrying cannot help: change the spec, or once it is fixed elsewhere ask for a run (sidecar: POST /api/v1/namespaces/${namespace}/vms/${name}/reconcile)`
      : `${message} — fix the spec; retrying cannot help`
    : lastAttempt
      ? `${message} — gave up after ${attempt} attempts; the controller tries again later`
      : `${message} — attempt ${attempt} of ${maxAttempts}, retrying with backoff`;
  return { reason, detail, permanent, lastAttempt, message, kind: te?.kind ?? "error", retry: !lastAttempt, keepsReady };
}
