import type { CliOptions } from "./args.js";
import { CliError, EXIT } from "./errors.js";
import { KubeFallback } from "./kube-fallback.js";
import type { Output } from "./output.js";
import { SidecarClient } from "./sidecar-client.js";

/** What every command gets: its options, where to write, and the two ways to the operator's data. */
export class CommandContext {
  readonly sidecar: SidecarClient | undefined;
  private kubeFallback: KubeFallback | undefined;

  constructor(
    readonly options: CliOptions,
    readonly io: Output,
    readonly now: () => number = Date.now,
  ) {
    this.sidecar = options.server !== undefined ? new SidecarClient(options.server, options.token) : undefined;
  }

  /** The Kubernetes API through the user's kubeconfig (loaded on first use). */
  kube(): KubeFallback {
    this.kubeFallback ??= KubeFallback.load(this.options.kubeconfig);
    return this.kubeFallback;
  }

  /** -n, else the kubeconfig context's namespace, else "default" (as kubectl). */
  namespace(): string {
    if (this.options.namespace !== undefined) return this.options.namespace;
    try {
      return this.kube().defaultNamespace();
    } catch {
      return "default";
    }
  }

  /** The namespace to list in: undefined with -A. */
  listNamespace(): string | undefined {
    return this.options.allNamespaces ? undefined : this.namespace();
  }

  /** For what only the sidecar has (runs, logs, plans, queueing): it, or an error saying how to give it. */
  requireSidecar(what: string): SidecarClient {
    if (!this.sidecar) throw new CliError(`${what} needs the sidecar: give its URL with --server or PTM_SERVER (e.g. http://127.0.0.1:8080 after kubectl port-forward to the chart's <release>-sidecar Service)`, EXIT.usage);
    return this.sidecar;
  }
}

/** The path of a VM under the sidecar's API. */
export function vmPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/vms/${encodeURIComponent(name)}`;
}
