/**
 * Diagnostics from tofu/terraform's human-readable output, for commands that run without `-json`
 * (terraform's `workspace` and `state` commands, `output -json`'s stderr). The format is
 *
 *   ╷
 *   │ Error: Summary
 *   │
 *   │   on main.tf line 3:            <- source snippet, dropped
 *   │    3:   foo = 1
 *   │
 *   │ Detail paragraph.
 *   ╵
 *
 * and, from older versions or when the box is off, the same without the frame.
 */
import type { TerraformDiagnostic } from "./events.js";

const HEADER = /^(Error|Warning): (.*)$/;

export function parseTextDiagnostics(lines: readonly string[]): TerraformDiagnostic[] {
  const out: TerraformDiagnostic[] = [];
  let current: { diag: TerraformDiagnostic; detail: string[] } | undefined;
  const flush = () => {
    if (!current) return;
    current.diag.detail = current.detail.join("\n").trim().replace(/\n{3,}/g, "\n\n");
    out.push(current.diag);
    current = undefined;
  };
  for (const raw of lines) {
    if (/^\s*╵/.test(raw)) {
      flush();
      continue;
    }
    const line = raw.replace(/^\s*[│╷]\s?/, "");
    const header = HEADER.exec(line.trim());
    if (header) {
      flush();
      current = {
        diag: { severity: header[1] === "Error" ? "error" : "warning", summary: header[2]!.trim(), detail: "" },
        detail: [],
      };
      continue;
    }
    if (!current) continue;
    // Source snippets repeat the configuration (which may hold values); the summary and detail are enough.
    if (/^\s+on .+ line \d+/.test(line) || /^\s*\d+:/.test(line) || /^\s+├|^\s+│/.test(line)) continue;
    current.detail.push(line);
  }
  flush();
  return out;
}
