import { z } from "zod";
import { isEndpointAllowEntry } from "../vm/endpoint-policy.js";
import { invalidNamespaceEntry } from "./namespaces.js";

/**
 * The only place that reads process.env. Everything the operator can be told through the
 * environment is here, with its default and a message that says what is wrong.
 */
const duration = z
  .string()
  .regex(/^([0-9]+(ms|s|m|h))+$/, "must be a duration such as 30s, 5m or 1h")
  .transform(parseDuration);

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const endpointAllowEntry = z.string().refine(isEndpointAllowEntry, { error: (issue) => `${String(issue.input)}: not a host name, *.domain, IP address or CIDR block` });

const endpointAllowList = z
  .string()
  .transform((text) =>
    text
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== ""),
  )
  .pipe(z.array(endpointAllowEntry));

const EnvSchema = z
  .object({
    REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" }),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// URL" }),
    KUBECONFIG: z.string().optional(),
    PTM_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
    PTM_NAMESPACE: z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        const problem = invalidNamespaceEntry(value);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .describe("Watch only this namespace, or these (comma-separated); default: all namespaces."),
    PTM_QUEUE_PREFIX: z.string().regex(/^[a-z0-9-]+$/).default("ptm"),
    PTM_DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("ptm"),
    PTM_STATE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("ptm_tfstate"),
    PTM_TERRAFORM_FLAVOR: z.enum(["tofu", "terraform"]).default("tofu"),
    PTM_TERRAFORM_BIN: z.string().optional(),
    TOFU_BIN: z.string().optional(),
    TF_CLI_CONFIG_FILE: z.string().optional(),
    PTM_PROVIDER_VERSION: z.string().regex(/^[0-9]+\.[0-9]+\.[0-9]+$/).default("0.111.1"),
    PTM_WORKDIR_ROOT: z.string().default("/tmp/ptm-work"),
    PTM_PLUGIN_CACHE_DIR: z.string().optional(),
    PTM_PROVIDER_SERVERS: bool.default(true).describe("Keep provider processes running between runs and reattach tofu to them (one per connection and token, one run at a time)."),
    PTM_PROVIDER_SERVER_IDLE: duration.prefault("5m").describe("Stop a provider server idle this long."),
    PTM_STATE_ENCRYPTION: z
      .enum(["on", "migrate", "off"])
      .default("on")
      .describe("on: OpenTofu encrypts state and plans (aes_gcm, the operator's key); migrate: also reads plain-text state and plans and writes them back encrypted; off: plain text."),
    PTM_STATE_KEY: z.string().optional().describe("The state encryption key (32 bytes, base64); unset: the key Secret PTM_STATE_KEY_SECRET."),
    PTM_STATE_PREVIOUS_KEY: z.string().optional().describe("The key before a rotation, for reading state and plans not yet rewritten."),
    PTM_STATE_KEY_SECRET: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "must be a Secret name")
      .default("proxmox-terraform-manager-state-key")
      .describe("The Secret holding the state key (data `key`, after a rotation also `previous-key`); the worker creates it with a random key when missing."),
    PTM_STATE_KEY_NAMESPACE: z.string().optional().describe("The key Secret's namespace (default: PTM_LEASE_NAMESPACE, the operator's own)."),
    PTM_ALLOW_PLAINTEXT_STATE: bool
      .default(false)
      .describe("Run VMs with a cloud-init password even when state is not encrypted (Terraform, or PTM_STATE_ENCRYPTION=off): the password is then stored in plain text."),
    PTM_STATE_ENCRYPTION_PASSPHRASE: z
      .string()
      .min(16, "must be at least 16 characters")
      .optional()
      .describe("The pbkdf2 passphrase of earlier releases: state it encrypted stays readable (a fallback; costs about 2 CPU-s per tofu command while set)."),
    PTM_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    PTM_RUN_TIMEOUT: duration.prefault("30m"),
    PTM_SHUTDOWN_GRACE: duration.prefault("2m"),
    PTM_RESYNC_INTERVAL: duration.prefault("10m"),
    PTM_CONNECTION_CHECK_INTERVAL: duration.prefault("5m").describe("How often a Ready ProxmoxConnection is checked again (one that is not Ready: every 15 s)."),
    PTM_DRIFT_INTERVAL: duration.prefault("1h"),
    PTM_DRIFT_BY_DIGEST: bool.default(true).describe("A drift check first compares the VM's config digest, node and power state with those recorded after its last run, and plans only when one differs."),
    PTM_DRIFT_FULL_PLAN_INTERVAL: duration.prefault("24h").describe("The longest a VM goes without a full drift plan when its digest says nothing changed (for what the config file does not hold)."),
    PTM_JOB_LOCK_DURATION: duration.prefault("60s"),
    PTM_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
    PTM_LEADER_ELECTION: bool.default(true),
    PTM_LEASE_NAMESPACE: z.string().default("default"),
    PTM_LEASE_NAME: z.string().default("proxmox-terraform-manager"),
    POD_NAME: z.string().optional(),
    PTM_SIDECAR_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
    PTM_SIDECAR_HOST: z.string().default("0.0.0.0"),
    PTM_SIDECAR_READ_TOKEN: z.string().min(16, "must be at least 16 characters").optional().describe("When set, the sidecar's read endpoints need it as a bearer token."),
    PTM_SIDECAR_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional().describe("Bearer token for the sidecar's endpoints that change something; unset: they are disabled."),
    PTM_EVENTS_MAXLEN: z.coerce.number().int().min(1000).max(10_000_000).default(100_000).describe("Approximate length of the Redis event stream (SSE history)."),
    PTM_SSE_HEARTBEAT: duration.prefault("15s"),
    PTM_SSE_MAX_CLIENTS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    PTM_SSE_MAX_CLIENTS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(32).describe("SSE connections one client address may hold at once; more get 429."),
    PTM_SSE_MAX_LIFETIME: duration.prefault("30m").describe("An SSE stream is closed after this long; EventSource reconnects and resumes with Last-Event-ID."),
    PTM_HTTP_HEADERS_TIMEOUT: duration.prefault("20s").describe("Time a client has to send the request headers."),
    PTM_HTTP_REQUEST_TIMEOUT: duration.prefault("60s").describe("Time a client has to send a whole request (SSE streams are not limited by it once answered)."),
    PTM_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(20_000).describe("Open TCP connections the sidecar accepts; more are refused."),
    PTM_SSE_MAX_BUFFER: z.coerce.number().int().min(16_384).max(64 * 1024 * 1024).default(256 * 1024).describe("Bytes queued for one SSE client before it is disconnected as too slow."),
    PTM_ALLOW_HTTP_ENDPOINTS: bool.default(false).describe("Accept http:// ProxmoxConnection endpoints (the token then travels in clear text)."),
    PTM_ENDPOINT_ALLOWLIST: endpointAllowList
      .prefault("")
      .describe("Comma-separated hosts (*.example.com) and CIDR blocks that ProxmoxConnection endpoints may name; empty: any host."),
    PTM_SECRET_CONSENT: z
      .enum(["required", "off"])
      .default("required")
      .describe("required: a Secret is used only when it carries the consent label (docs/helm.md); off: any Secret the operator may read."),
    PTM_SECRET_CONSUMER: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/, "must be a label value such as proxmox-terraform-manager")
      .default("proxmox-terraform-manager")
      .describe("The value the consent label must have: this operator installation's name."),
    PTM_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional().describe("Serve /metrics and /healthz on this port too (for controller and worker processes)."),
  })
  .refine((env) => env.PTM_SIDECAR_READ_TOKEN === undefined || env.PTM_SIDECAR_READ_TOKEN !== env.PTM_SIDECAR_ADMIN_TOKEN, {
    path: ["PTM_SIDECAR_ADMIN_TOKEN"],
    message: "must differ from PTM_SIDECAR_READ_TOKEN: with equal tokens every reader could change things",
  });

export type Env = z.output<typeof EnvSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function readEnv(source: Record<string, string | undefined> = process.env): Env {
  const result = EnvSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** "1h30m" → milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const match of text.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    total += Number(match[1]) * units[match[2]!]!;
  }
  return total;
}

/**
 * The values of `names` in the process environment: what child processes (tofu) inherit. Here,
 * so that this file stays the only reader of process.env.
 */
export function inheritedEnvironment(names: readonly string[], source: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
