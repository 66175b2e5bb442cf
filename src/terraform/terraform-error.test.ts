import { describe, expect, it } from "vitest";
import { MAX_CONDITION_MESSAGE, TerraformError } from "./terraform-error.js";

describe("TerraformError", () => {
  it("uses the first error diagnostic as a one-line condition message", () => {
    const e = new TerraformError({
      kind: "permanent",
      phase: "plan",
      exitCode: 1,
      diagnostics: [
        { severity: "warning", summary: "Deprecated", detail: "x" },
        { severity: "error", summary: "Unsupported argument", detail: 'An argument named\n"bogus" is not expected here.' },
      ],
    });
    expect(e.message).toBe('Unsupported argument: An argument named "bogus" is not expected here.');
    expect(e).toMatchObject({ name: "TerraformError", kind: "permanent", phase: "plan", exitCode: 1, retryable: false });
  });

  it("trims long messages", () => {
    const e = new TerraformError({ kind: "transient", phase: "apply", exitCode: 1, diagnostics: [{ severity: "error", summary: "S", detail: "d".repeat(5000) }] });
    expect(e.message.length).toBe(MAX_CONDITION_MESSAGE);
    expect(e.retryable).toBe(true);
  });

  it("falls back to stderr, then to the exit code", () => {
    expect(new TerraformError({ kind: "transient", phase: "init", exitCode: 1, stderrTail: ["", "panic: boom"] }).message).toBe("init failed: panic: boom");
    expect(new TerraformError({ kind: "transient", phase: "init", exitCode: 3 }).message).toBe("init failed with exit code 3");
  });

  it("says timeout first for a timeout, with what tofu reported", () => {
    const e = new TerraformError({
      kind: "timeout",
      phase: "apply",
      exitCode: 1,
      fallbackMessage: "apply timed out after 5s",
      diagnostics: [{ severity: "error", summary: "execution halted", detail: "" }],
    });
    expect(e.message).toBe("apply timed out after 5s (execution halted)");
  });
});
