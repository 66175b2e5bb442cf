import { COMMANDS, OUTPUT_FORMATS, type CommandName } from "./args.js";

const FLAGS: Record<string, string> = {
  "all-namespaces": "-A, --all-namespaces    every namespace",
  follow: "-f, --follow            stream the log live until the run ends (exit 1 if it failed)",
  run: "    --run ID            this run instead of the pending or latest one",
  limit: "    --limit N           how many runs (1-500, default 20)",
};

const COMMON = `Options for every command:
  -n, --namespace NS      the VM's namespace (default: the kubeconfig context's, else "default")
  -o, --output FORMAT     ${OUTPUT_FORMATS.join(", ")} (default table)
      --server URL        the sidecar's URL (env PTM_SERVER); without it, get, connections,
                          plan and approve read the Kubernetes API through the kubeconfig
      --token TOKEN       the sidecar's bearer token (env PTM_TOKEN): its read token, or the
                          admin token for approve, discard and reconcile
      --kubeconfig FILE   for the Kubernetes API (default $KUBECONFIG, ~/.kube/config)
  -h, --help              this help`;

/** `kubectl ptm --help`, or one command's help. */
export function helpText(command?: CommandName): string {
  if (command) {
    const spec = COMMANDS[command];
    const flags = spec.flags.map((f) => `  ${FLAGS[f]}`).join("\n");
    return `kubectl ptm ${command}${spec.args ? ` ${spec.args}` : ""}: ${spec.summary}\n${flags ? `\n${flags}\n` : ""}\n${COMMON}\n`;
  }
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const list = Object.entries(COMMANDS)
    .map(([name, spec]) => `  ${name.padEnd(width)}  ${`${spec.args}`.padEnd(8)}  ${spec.summary}`)
    .join("\n");
  return `kubectl ptm: Proxmox Terraform Manager from the command line (docs/cli.md)

Usage: kubectl ptm COMMAND [VM] [options]

Commands:
${list}

${COMMON}

Exit codes: 0 ok, 1 failed (a refused change, a failed run), 2 bad usage, 3 not found,
4 token or credentials missing or refused, 5 sidecar or Kubernetes API unreachable.
`;
}
