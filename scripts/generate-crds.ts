// Writes the CRD YAML from the zod schemas in src/api (the one source of truth for the spec) to
// every directory that ships it: crds/ and the Helm chart's crds/.
// Run: npm run generate:crds. src/api/crd-files.test.ts fails when either copy is stale.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CRD_DIRECTORIES, renderCrdFiles } from "../src/api/crd-files.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const files = renderCrdFiles();
for (const dir of CRD_DIRECTORIES) {
  mkdirSync(path.join(repoRoot, dir), { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(path.join(repoRoot, dir, file), text);
    console.log(`wrote ${dir}/${file}`);
  }
}
