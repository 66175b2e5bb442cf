import { describe, expect, it } from "vitest";
import { parseTextDiagnostics } from "./text-diagnostics.js";

describe("parseTextDiagnostics", () => {
  it("reads boxed diagnostics and drops the source snippet", () => {
    const out = [
      "Initializing...",
      "╷",
      "│ Error: Unsupported argument",
      "│ ",
      '│   on main.tf.json line 3, in resource.terraform_data.a:',
      '│    3:   "bogus": 1',
      "│ ",
      '│ An argument named "bogus" is not expected here.',
      "╵",
      "╷",
      "│ Warning: Deprecated attribute",
      "│ ",
      "│ Use x instead.",
      "╵",
    ];
    expect(parseTextDiagnostics(out)).toEqual([
      { severity: "error", summary: "Unsupported argument", detail: 'An argument named "bogus" is not expected here.' },
      { severity: "warning", summary: "Deprecated attribute", detail: "Use x instead." },
    ]);
  });

  it("reads unframed diagnostics", () => {
    expect(parseTextDiagnostics(["", "Error: Invalid target address", "", "No matching objects found."])).toEqual([
      { severity: "error", summary: "Invalid target address", detail: "No matching objects found." },
    ]);
  });

  it("finds nothing in ordinary output", () => {
    expect(parseTextDiagnostics(["Removed terraform_data.a", "Successfully removed 1 resource instance(s)."])).toEqual([]);
  });
});
