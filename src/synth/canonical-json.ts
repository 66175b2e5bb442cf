/** cdktn's metadata key ("//"): construct paths and the cdktn version, nothing tofu reads. */
const METADATA_KEY = "//";

/**
 * A copy of `value` with object keys sorted (recursively), "//" metadata keys removed and
 * undefined members dropped, so that equal configurations serialize to equal bytes no matter how
 * they were built.
 */
export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (key === METADATA_KEY || member === undefined) continue;
    out[key] = canonicalize(member);
  }
  return out;
}

/** Canonical JSON text: canonicalize() then 2-space indentation. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalize(value), null, 2);
}
