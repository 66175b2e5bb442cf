/**
 * A spec that is valid by the schema but cannot be synthesized. Retrying cannot help, so the
 * operator reports it as a Stalled condition instead of requeueing.
 */
export class SynthesisError extends Error {
  override readonly name = "SynthesisError";

  constructor(
    /** Path of the offending field, e.g. "spec.initialization.userDataSecretRef". */
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}
