import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { REQUIRED_PRIVILEGES, requiredPrivilegesMarkdown, withRequiredPrivileges } from "./required-privileges.js";

const readme = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../README.md"), "utf8");

describe("the README's privilege table", () => {
  it("is the list the connection check uses (run npm run generate:crds when it changes)", () => {
    expect(readme).toContain(requiredPrivilegesMarkdown());
    expect(withRequiredPrivileges(readme)).toBe(readme);
  });

  it("names every required privilege", () => {
    for (const { path: p, privileges } of REQUIRED_PRIVILEGES) {
      for (const privilege of privileges) expect(requiredPrivilegesMarkdown()).toMatch(new RegExp(`\\| \`${p.replace(/[{}/]/g, "\\$&")}\` \\|[^\\n]*\`${privilege}\``));
    }
  });
});
