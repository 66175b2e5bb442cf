/** The tofu/terraform command an event came from. */
export type TerraformPhase = "init" | "workspace" | "plan" | "apply" | "output" | "state" | "version";

/** Where a line came from; "runner" marks the runner's own notes (command start, timeout, kill). */
export type TerraformStream = "stdout" | "stderr" | "runner";

export type TerraformLevel = "info" | "warn" | "error" | "debug";

/** Resource counts of a `change_summary` (plan, apply or destroy). `forget` is OpenTofu's `removed` blocks. */
export interface ChangeCounts {
  add: number;
  change: number;
  import: number;
  remove: number;
  forget: number;
}

export interface TerraformDiagnostic {
  severity: "error" | "warning";
  summary: string;
  detail: string;
  /** Resource address the diagnostic belongs to, when tofu reports one. */
  address?: string;
}

/**
 * One line of tofu's output as a structured event. Every string in it has already been redacted.
 * Callers number events themselves (the runner emits them in order, one command at a time).
 */
export interface TerraformEvent {
  phase: TerraformPhase;
  stream: TerraformStream;
  level: TerraformLevel;
  /** The `-json` UI message type (version, planned_change, apply_complete, diagnostic, ...), or "log" for plain lines, or "command" for the runner's note that a command starts. */
  type: string;
  message: string;
  /** ISO-8601; tofu's `@timestamp` for JSON lines, the time the line was read otherwise. */
  timestamp: string;
  resource?: string;
  action?: string;
  elapsedSeconds?: number;
  diagnostic?: TerraformDiagnostic;
  changes?: ChangeCounts;
}

export const emptyChanges = (): ChangeCounts => ({ add: 0, change: 0, import: 0, remove: 0, forget: 0 });
