import type { FailureProblem } from "./classify-error.js";
import type { TerraformDiagnostic, TerraformPhase } from "./events.js";

export type TerraformErrorKind = "transient" | "permanent" | "lock" | "timeout" | "aborted";

/** Longest message put on a Kubernetes condition. */
export const MAX_CONDITION_MESSAGE = 1000;

export interface TerraformErrorInit {
  kind: TerraformErrorKind;
  phase: TerraformPhase;
  /** null when the process was killed by a signal or never started. */
  exitCode: number | null;
  /** Error diagnostics, already redacted. */
  diagnostics?: TerraformDiagnostic[];
  /** Last lines of stderr (redacted), for a failure that produced no diagnostic. */
  stderrTail?: string[];
  /** Used when there is no diagnostic (timeouts, spawn failures). */
  fallbackMessage?: string;
  /** What would fix it (from the classification), kept apart from tofu's own words in `message`. */
  hint?: string;
  /** Which known problem it is, if the classification recognised one. */
  problem?: FailureProblem;
  cause?: unknown;
}

/**
 * A failed tofu command. `message` is short and safe to show: it is what goes on the resource's
 * condition (first error diagnostic's summary and detail, at most MAX_CONDITION_MESSAGE chars).
 */
export class TerraformError extends Error {
  override readonly name = "TerraformError";
  readonly kind: TerraformErrorKind;
  readonly phase: TerraformPhase;
  readonly exitCode: number | null;
  readonly diagnostics: TerraformDiagnostic[];
  readonly stderrTail: string[];
  readonly hint: string | undefined;
  readonly problem: FailureProblem | undefined;

  constructor(init: TerraformErrorInit) {
    super(conditionMessage(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.phase = init.phase;
    this.exitCode = init.exitCode;
    this.diagnostics = init.diagnostics ?? [];
    this.stderrTail = init.stderrTail ?? [];
    this.hint = init.hint;
    this.problem = init.problem;
  }

  /** Worth retrying later (the worker caps attempts). */
  get retryable(): boolean {
    return this.kind !== "permanent";
  }
}

function conditionMessage(init: TerraformErrorInit): string {
  const first = init.diagnostics?.find((d) => d.severity === "error") ?? init.diagnostics?.[0];
  let text: string;
  if (init.kind === "timeout" || init.kind === "aborted" || !first) {
    const tail = init.stderrTail?.filter((l) => l.trim()).slice(-3).join(" ").trim();
    text = init.fallbackMessage ?? (tail ? `${init.phase} failed: ${tail}` : `${init.phase} failed with exit code ${init.exitCode}`);
    if (first && (init.kind === "timeout" || init.kind === "aborted")) text += ` (${first.summary})`;
  } else {
    text = first.detail ? `${first.summary}: ${first.detail}` : first.summary;
  }
  return truncate(text.replace(/\s+/g, " ").trim(), MAX_CONDITION_MESSAGE);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
