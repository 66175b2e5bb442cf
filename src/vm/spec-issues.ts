import type { z } from "zod";

/** "spec.cpu.cores: Too small: expected number to be >=1; spec.name: ..." — what to fix, by field. */
export function describeSpecIssues(error: z.ZodError, root = "spec"): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${[root, ...issue.path.map(String)].join(".")}: ${issue.message}`)
    .join("; ");
}
