/** Exit codes of kubectl-ptm (docs/cli.md lists them). */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: a refused change, a failed run, a server error. */
  failure: 1,
  /** Bad arguments: unknown command or flag, missing VM name. */
  usage: 2,
  /** The ProxmoxVM (or run) does not exist. */
  notFound: 3,
  /** The token (or kubeconfig identity) is missing, wrong or not allowed to do this. */
  auth: 4,
  /** The sidecar or the Kubernetes API does not answer. */
  unreachable: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error meant for the user: its message says what to fix, its exit code what kind it is. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

/** The network error code under a failed fetch or client request (ECONNREFUSED, ENOTFOUND, ...). */
export function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
}
