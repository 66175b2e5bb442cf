import { parseArgs } from "node:util";
import { usageError } from "./errors.js";

export const OUTPUT_FORMATS = ["table", "wide", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What each command takes: its positional arguments and the flags that mean something to it. */
export const COMMANDS = {
  get: { args: "[VM]", summary: "list ProxmoxVMs (or show one) with node, id, state, IP, readiness and connection health", flags: ["all-namespaces"] },
  plan: { args: "VM", summary: "show the pending plan's diff, or the last run's", flags: ["run"] },
  approve: { args: "VM", summary: "approve the plan that waits for approval (spec.approval: Manual)", flags: ["run"] },
  discard: { args: "VM", summary: "discard the plan that waits for approval", flags: ["run"] },
  logs: { args: "VM", summary: "print the latest run's log; --follow streams it live until the run ends", flags: ["follow", "run"] },
  runs: { args: "VM", summary: "list the VM's runs, newest first", flags: ["limit"] },
  reconcile: { args: "VM", summary: "queue a run for the VM now", flags: [] },
  connections: { args: "", summary: "list ProxmoxConnections with their health", flags: ["all-namespaces"] },
  completion: { args: "bash|zsh", summary: "print a shell completion script", flags: [] },
} as const;

export type CommandName = keyof typeof COMMANDS;

/** Flags every command takes. */
const COMMON_FLAGS = ["server", "token", "namespace", "output", "kubeconfig", "help"];

const OPTIONS = {
  server: { type: "string" },
  token: { type: "string" },
  namespace: { type: "string", short: "n" },
  "all-namespaces": { type: "boolean", short: "A" },
  output: { type: "string", short: "o" },
  kubeconfig: { type: "string" },
  follow: { type: "boolean", short: "f" },
  run: { type: "string" },
  limit: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CliOptions {
  /** The sidecar's base URL (--server, else PTM_SERVER); unset: the Kubernetes API. */
  server?: string;
  /** Bearer token for the sidecar (--token, else PTM_TOKEN). */
  token?: string;
  /** -n; unset: the kubeconfig context's namespace. */
  namespace?: string;
  allNamespaces: boolean;
  output: OutputFormat;
  kubeconfig?: string;
  follow: boolean;
  run?: string;
  limit: number;
}

export type ParsedCli =
  | { kind: "help"; command?: CommandName }
  | { kind: "command"; command: CommandName; args: string[]; options: CliOptions };

const MAX_LIMIT = 500;

/** Parses kubectl-ptm's arguments; throws a usage error (exit 2) that says what is wrong. */
export function parseCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedCli {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, "")}; see kubectl ptm --help`);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;
  if (name === undefined || name === "help") {
    const topic = args[0];
    return topic !== undefined && isCommand(topic) ? { kind: "help", command: topic } : { kind: "help" };
  }
  if (!isCommand(name)) throw usageError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(", ")}`);
  if (values.help) return { kind: "help", command: name };

  const spec = COMMANDS[name];
  const allowed: readonly string[] = [...COMMON_FLAGS, ...spec.flags];
  for (const flag of Object.keys(values)) {
    if (!allowed.includes(flag)) throw usageError(`${name} does not take --${flag}`);
  }
  const required = spec.args === "" ? 0 : spec.args.startsWith("[") ? 0 : 1;
  const maximum = spec.args === "" ? 0 : 1;
  if (args.length < required) throw usageError(`${name} needs ${spec.args}: kubectl ptm ${name} ${spec.args}`);
  if (args.length > maximum) throw usageError(`${name} takes ${maximum === 0 ? "no arguments" : `one ${spec.args}`}, got: ${args.join(" ")}`);

  const output = values.output ?? "table";
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) throw usageError(`-o/--output: "${output}" is not one of ${OUTPUT_FORMATS.join(", ")}`);
  if (values.namespace !== undefined && values["all-namespaces"]) throw usageError("give -n/--namespace or -A/--all-namespaces, not both");
  let limit = 20;
  if (values.limit !== undefined) {
    limit = /^\d{1,4}$/.test(values.limit) ? Number(values.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) throw usageError(`--limit: an integer from 1 to ${MAX_LIMIT}, got "${values.limit}"`);
  }
  const server = nonEmpty(values.server) ?? nonEmpty(env.PTM_SERVER);
  const token = nonEmpty(values.token) ?? nonEmpty(env.PTM_TOKEN);
  if (server !== undefined) checkServerUrl(server);

  const options: CliOptions = { allNamespaces: values["all-namespaces"] ?? false, output: output as OutputFormat, follow: values.follow ?? false, limit };
  if (server !== undefined) options.server = server.replace(/\/+$/, "");
  if (token !== undefined) options.token = token;
  if (values.namespace !== undefined) options.namespace = values.namespace;
  if (values.kubeconfig !== undefined) options.kubeconfig = values.kubeconfig;
  if (values.run !== undefined) options.run = values.run;
  return { kind: "command", command: name, args, options };
}

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function checkServerUrl(server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw usageError(`--server/PTM_SERVER: "${server}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(`--server/PTM_SERVER: "${server}" must be an http:// or https:// URL`);
}
