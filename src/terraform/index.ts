export * from "./events.js";
export { TerraformError, MAX_CONDITION_MESSAGE, type TerraformErrorKind } from "./terraform-error.js";
export { classifyFailure, describeFailure, STORAGE_FULL_HINT, REPLACEMENT_REQUIRED_HINT, type FailureKind, type FailureClass } from "./classify-error.js";
export { Redactor, REDACTED, isSecretName } from "./redact.js";
export { encryptionConfig, ENCRYPTION_ENV, MIN_PASSPHRASE_LENGTH } from "./encryption.js";
export { parseLine, LineSplitter } from "./json-stream.js";
export {
  TerraformRunner,
  DEFAULT_INHERIT_ENV,
  type TerraformRunnerOptions,
  type TerraformFlavor,
  type RunOptions,
  type PlanResult,
  type ApplyResult,
  type AutoApplyResult,
  type VersionInfo,
} from "./runner.js";
export { ERRORED_STATE_FILE, type ErroredStateStore, type ErroredStateKept, type StoredErroredState } from "./errored-state.js";
export { replacementsInPlan, describeForcingAttributes, withoutPreventDestroy, type Replacement, type ForcingAttribute } from "./replacement.js";
export { ProviderServers, type ProviderServersOptions, type ProviderBinary } from "./provider-servers.js";
export {
  plannedChange,
  desiredChange,
  changeLines,
  SENSITIVE,
  KNOWN_AFTER_APPLY,
  type PlannedChange,
  type PlannedResource,
  type DesiredChange,
  type AttributeChange,
} from "./plan-diff.js";
