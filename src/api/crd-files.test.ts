import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CRD_DIRECTORIES, renderCrdFiles } from "./crd-files.js";
import { toStructural } from "./crds.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const committed = CRD_DIRECTORIES.flatMap((dir) => Object.entries(renderCrdFiles()).map(([file, text]) => [`${dir}/${file}`, text] as const));

describe("generated CRDs", () => {
  it.each(committed)("%s matches the zod schemas (run npm run generate:crds)", (file, text) => {
    expect(readFileSync(path.join(repoRoot, file), "utf8")).toBe(text);
  });
});

describe("toStructural", () => {
  it("drops what the API server rejects and keeps Kubernetes extensions", () => {
    const out = toStructural({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      additionalProperties: false,
      properties: {
        n: { type: "integer", minimum: Number.MIN_SAFE_INTEGER, maximum: 10 },
        m: { type: "object", propertyNames: { type: "string" }, additionalProperties: { type: "string", $schema: "x" } },
        l: { type: "array", items: { type: "object", additionalProperties: false }, "x-kubernetes-list-type": "set" },
      },
    });
    expect(out).toEqual({
      type: "object",
      properties: {
        n: { type: "integer", maximum: 10 },
        m: { type: "object", additionalProperties: { type: "string" } },
        l: { type: "array", items: { type: "object" }, "x-kubernetes-list-type": "set" },
      },
    });
  });
});
