/**
 * Decides whether a failed tofu command is worth retrying. Timeouts and aborts are known from how
 * the process ended and never reach this function; it sees the (redacted) error diagnostics and
 * the tail of stderr.
 *
 * | kind      | when (first matching row wins)                                            | why                                              |
 * |-----------|---------------------------------------------------------------------------|--------------------------------------------------|
 * | lock      | "Error acquiring the state lock", "Workspace is already locked",          | another run holds the workspace, or the pg       |
 * |           | "already locked for workspace creation"                                   | backend creates another workspace: retry later   |
 * | permanent | Proxmox storage full: LVM "insufficient free space", "no space left on    | the datastore stays full until someone frees it  |
 * |           | storage", qemu-img "No space left on device", ZFS "out of space"          | or the spec names another one (hint attached)    |
 * | permanent | "Instance cannot be destroyed" (lifecycle.prevent_destroy): the plan would | nothing changed; it needs the spec undone or the |
 * |           | destroy or replace the VM (problem "replacement-required", hint attached)  | opt-in spec.allowReplacement                     |
 * | permanent | Proxmox 401 "authentication failure", "Permission check failed (path, priv)" | the token, not time, must change (hint attached) |
 * | permanent | missing config file (VM/template), unknown node, missing storage / bridge  | the spec names what Proxmox does not have         |
 * | transient | Proxmox 595 (the API could not reach the node: offline, "No route to host") | clears when the node is back; problem            |
 * |           | (problem "node-offline": no retries, the connection is checked again)      | "node-offline", the VM waits on the check        |
 * | transient | Proxmox "can't lock file" / "got timeout" (a busy node's config lock)     | clears by itself                                 |
 * |           | (lock rows carry the problem "lock-timeout": the condition reason LockTimeout) |                                          |
 * | transient | HTTP 5xx from the API (500, 502, 503, 504, "Internal Server Error", ...)  | server side, usually passing                     |
 * | transient | connection refused / reset, broken pipe, EOF, no such host                | network or a restarting API / PostgreSQL         |
 * | transient | TLS handshake timeout, "context deadline exceeded", "i/o timeout"         | slow or overloaded peer                          |
 * | transient | PostgreSQL "too many connections", "the database system is starting up"  | the state backend is busy or restarting          |
 * | permanent | Unsupported argument / attribute / block type, Invalid value / reference / expression / type, Incorrect attribute value type | the configuration is wrong: a retry fails the same way |
 * | permanent | Missing required argument, unknown attribute, "is not expected here", No value for required variable | same                                       |
 * | permanent | JSON-syntax twins: "Extraneous JSON object property", "No argument or block type is named" | main.tf.json is JSON, so these are what tofu says |
 * | permanent | Proxmox 400 "Parameter verification failed"                               | the API refused the values                       |
 * | permanent | state encrypted but no/wrong encryption configuration                     | needs the right passphrase, not time             |
 * | permanent | exit 126/127 without diagnostics (binary missing or not executable)       | a deployment problem                             |
 * | transient | anything else                                                             | retrying is the safer default; the worker caps attempts |
 *
 * Transient rows are checked before the configuration rows: a 503 whose body happens to say
 * "Invalid value" is still worth a retry. The storage row comes before them because Proxmox
 * reports a full datastore inside an HTTP 500 ("received an HTTP 500 response - Reason: error
 * resizing volume ...: no space left on storage ..."), and retrying that only repeats the run
 * (the benchmark saw 437 failed runs in 12 minutes). Its patterns name Proxmox's wording, not a
 * bare "No space left on device", which could be the worker's own disk or PostgreSQL's.
 */

export type FailureKind = "transient" | "permanent" | "lock";
/** A failure the operator names on its own (a condition reason) rather than as a generic apply failure. */
export type FailureProblem =
  | "storage-full"
  | "lock-timeout"
  | "replacement-required"
  | "authentication"
  | "permission-denied"
  | "vm-not-found"
  | "node-not-found"
  | "storage-not-found"
  | "bridge-not-found"
  | "node-offline";

interface Rule {
  kind: FailureKind;
  pattern: RegExp;
  /** What to do about it, for the resource's condition. */
  hint?: string;
  problem?: FailureProblem;
}

export const STORAGE_FULL_HINT =
  "the Proxmox datastore is full: free space on it, or point the spec at another datastore (disks[].datastoreId, clone.datastoreId, initialization.datastoreId) or ask for smaller disks";

export const REPLACEMENT_REQUIRED_HINT =
  "the change can only be made by destroying and re-creating the VM (its disks with it), so it was refused before anything changed: undo the change (in the spec, or on Proxmox if it was made there), or set spec.allowReplacement: true to let the VM be replaced";

const RULES: Rule[] = [
  {
    kind: "lock",
    pattern: /Error acquiring the state lock|Workspace is already locked|already locked for workspace creation|state lock is held|ConditionalCheckFailedException/i,
    problem: "lock-timeout",
  },

  {
    kind: "permanent",
    pattern: /insufficient free space|no space left on storage|qemu-img[^\n]*No space left on device|cannot create '[^'\n]+': out of space/i,
    hint: STORAGE_FULL_HINT,
    problem: "storage-full",
  },

  {
    kind: "permanent",
    pattern: /Instance cannot be destroyed|has lifecycle\.prevent_destroy set/i,
    hint: REPLACEMENT_REQUIRED_HINT,
    problem: "replacement-required",
  },

  // Configuration Proxmox reports (inside HTTP 500s or task logs, so before the 5xx row): retrying
  // cannot help; the connection status lists what exists.
  {
    kind: "permanent",
    pattern: /\b401\b[^\n]*(?:authentication failure|Unauthorized|No ticket|invalid token)|authentication failure|invalid PVE ticket/i,
    hint: "Proxmox refused the API token: fix the token Secret of the ProxmoxConnection (runs resume once the connection check passes)",
    problem: "authentication",
  },
  {
    kind: "permanent",
    pattern: /Permission check failed/i,
    hint: "the API token lacks the privilege named there: grant it on that path (README: \"Connecting your Proxmox\")",
    problem: "permission-denied",
  },
  {
    kind: "permanent",
    pattern: /Configuration file '[^'\n]*qemu-server\/\d+\.conf' does not exist/i,
    hint: "no VM or template with that id on that node: check spec.clone.vmId and spec.clone.nodeName (the ProxmoxConnection's status lists the templates)",
    problem: "vm-not-found",
  },
  {
    kind: "permanent",
    pattern: /hostname lookup '[^'\n]+' failed|no such cluster node/i,
    hint: "that node is not in the cluster: check spec.nodeName and spec.clone.nodeName (the ProxmoxConnection's status lists the nodes)",
    problem: "node-not-found",
  },
  {
    kind: "permanent",
    pattern: /storage '[^'\n]+' does not exist/i,
    hint: "no such datastore on that node: check disks[].datastoreId, clone.datastoreId and initialization.datastoreId (the ProxmoxConnection's status lists the datastores)",
    problem: "storage-not-found",
  },
  {
    kind: "permanent",
    pattern: /bridge '[^'\n]+' does not exist/i,
    hint: "no such bridge on that node: check networkDevices[].bridge (the ProxmoxConnection's status lists the bridges)",
    problem: "bridge-not-found",
  },

  // 595 is not HTTP's: it is what Proxmox's API proxy (AnyEvent::HTTP) answers when it cannot
  // forward a /nodes/<node>/... call to that node. Before the 5xx row, which would retry it blindly.
  {
    kind: "transient",
    pattern: /\b(?:HTTP|status(?: code)?|response)\D{0,3}595\b|: 595\b|\b595 (?:Connection refused|No route to host|Connection timed out)/i,
    hint: "the Proxmox node did not answer its cluster's API (it is offline or unreachable)",
    problem: "node-offline",
  },
  { kind: "transient", pattern: /can't lock file|got timeout/i, problem: "lock-timeout" },
  { kind: "transient", pattern: /\b(?:HTTP|status(?: code)?|response)\D{0,3}5\d\d\b|\b5\d\d (?:Internal Server Error|Not Implemented|Bad Gateway|Service Unavailable|Gateway Time-?out)\b|\b(?:Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out)\b/i },
  { kind: "transient", pattern: /connection refused|connection reset|broken pipe|unexpected EOF|no such host|network is unreachable|ECONNREFUSED|ECONNRESET/i },
  { kind: "transient", pattern: /TLS handshake timeout|context deadline exceeded|i\/o timeout|Client\.Timeout exceeded/i },
  { kind: "transient", pattern: /too many connections|the database system is (?:starting up|shutting down)/i },

  { kind: "permanent", pattern: /Unsupported (?:argument|attribute|block type)|Invalid (?:value|reference|expression|resource type|type|function argument)\b|Incorrect attribute value type/i },
  { kind: "permanent", pattern: /Missing required (?:argument|attribute)|unknown attribute|is not expected here|No value for required variable/i },
  { kind: "permanent", pattern: /Extraneous JSON object property|No argument or block type is named/i },
  { kind: "permanent", pattern: /Parameter verification failed/i },
  { kind: "permanent", pattern: /can not be read without an encryption configuration|decryption failed for all provided methods|unencrypted payload without unencrypted method|Unable to use unencrypted method/i },
];

export interface ClassifyInput {
  /** Error diagnostics as "summary\ndetail" strings, or any error text. */
  texts: readonly string[];
  exitCode?: number | null;
}

export interface FailureClass {
  kind: FailureKind;
  /** What would fix it, when the text says more than the kind. */
  hint?: string;
  problem?: FailureProblem;
}

export function describeFailure({ texts, exitCode }: ClassifyInput): FailureClass {
  const text = texts.join("\n");
  for (const rule of RULES) {
    if (rule.pattern.test(text)) return { kind: rule.kind, ...(rule.hint ? { hint: rule.hint } : {}), ...(rule.problem ? { problem: rule.problem } : {}) };
  }
  if (exitCode === 126 || exitCode === 127) return { kind: "permanent", hint: "the tofu/terraform binary is missing or not executable: check PTM_TERRAFORM_BIN / TOFU_BIN" };
  return { kind: "transient" };
}

export function classifyFailure(input: ClassifyInput): FailureKind {
  return describeFailure(input).kind;
}
