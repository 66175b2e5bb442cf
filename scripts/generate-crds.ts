// Writes crds/*.yaml from the zod schemas in src/api (the one source of truth for the spec).
// Run: npm run generate:crds. src/api/crds.test.ts fails when crds/ is stale.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrdFiles } from "../src/api/crd-files.js";

const crdsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../crds");
for (const [file, text] of Object.entries(renderCrdFiles())) {
  writeFileSync(path.join(crdsDir, file), text);
  console.log(`wrote crds/${file}`);
}
