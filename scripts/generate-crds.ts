// Writes the CRD YAML from the zod schemas in src/api (the one source of truth for the spec) to
// every directory that ships it: crds/ and the Helm chart's crds/; and the README's table of the
// privileges a connection's token needs.
// Run: npm run generate:crds. src/api/crd-files.test.ts fails when either copy is stale.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { CRD_DIRECTORIES, renderCrdFiles } from "../src/api/crd-files.js";
import { withRequiredPrivileges } from "../src/api/required-privileges.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const files = renderCrdFiles();
for (const dir of CRD_DIRECTORIES) {
  mkdirSync(path.join(repoRoot, dir), { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(path.join(repoRoot, dir, file), text);
    console.log(`wrote ${dir}/${file}`);
  }
}
// The README's "Connecting your Proxmox" table comes from the same list the connection check uses.
const readme = path.join(repoRoot, "README.md");
writeFileSync(readme, withRequiredPrivileges(readFileSync(readme, "utf8")));
console.log("wrote README.md (Connecting your Proxmox)");
