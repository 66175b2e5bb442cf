import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, type KubernetesListObject } from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, APPROVE_ANNOTATION, PROXMOX_CONNECTION, PROXMOX_VM } from "../api/group.js";
import { toVmView, type VmView } from "../events/views.js";
import { toConnectionView, type ConnectionView } from "../http/connection-view.js";
import { statusCodeOf } from "../kube/api-error.js";
import type { ProxmoxConnectionObject, ProxmoxVMObject } from "../kube/types.js";
import { CliError, EXIT, networkCode } from "./errors.js";

/** The field manager the approve annotation is written with: the run record can say who approved. */
export const CLI_FIELD_MANAGER = "kubectl-ptm";

/**
 * What lives in the Kubernetes API, read with the user's kubeconfig when no sidecar URL is
 * given: ProxmoxVMs, ProxmoxConnections, and the approve annotation. Views are the sidecar's own
 * (src/events/views.ts, src/http/connection-view.ts), so output is the same either way.
 */
export class KubeFallback {
  private readonly api: CustomObjectsApi;

  private constructor(readonly config: KubeConfig) {
    this.api = config.makeApiClient(CustomObjectsApi);
  }

  /** --kubeconfig, else $KUBECONFIG or ~/.kube/config, as kubectl reads them. */
  static load(kubeconfig: string | undefined): KubeFallback {
    const config = new KubeConfig();
    try {
      if (kubeconfig !== undefined) config.loadFromFile(kubeconfig);
      else config.loadFromDefault();
    } catch (error) {
      throw new CliError(`cannot read the kubeconfig${kubeconfig ? ` ${kubeconfig}` : ""}: ${(error as Error).message}`, EXIT.usage);
    }
    return new KubeFallback(config);
  }

  /** The current context's namespace, as kubectl defaults it. */
  defaultNamespace(): string {
    return this.config.getContextObject(this.config.getCurrentContext())?.namespace || "default";
  }

  private get server(): string {
    return this.config.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
  }

  async listVms(namespace: string | undefined): Promise<VmView[]> {
    const list = await this.call("list ProxmoxVMs", () => this.list<ProxmoxVMObject>(PROXMOX_VM.plural, namespace));
    return list.items.map(toVmView).sort(byKey);
  }

  async getVmObject(namespace: string, name: string): Promise<ProxmoxVMObject> {
    return this.call(`get ProxmoxVM ${namespace}/${name}`, async () => {
      try {
        return (await this.api.getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, name })) as ProxmoxVMObject;
      } catch (error) {
        if (statusCodeOf(error) === 404) throw new CliError(`no ProxmoxVM ${namespace}/${name}`, EXIT.notFound);
        throw error;
      }
    });
  }

  async listConnections(namespace: string | undefined): Promise<ConnectionView[]> {
    const list = await this.call("list ProxmoxConnections", () => this.list<ProxmoxConnectionObject>(PROXMOX_CONNECTION.plural, namespace));
    return list.items.map(toConnectionView).sort(byKey);
  }

  /** Writes the approve annotation (its value: the stack hash the pending plan was made for). */
  async approve(namespace: string, name: string, hash: string): Promise<void> {
    await this.call(`annotate ProxmoxVM ${namespace}/${name}`, () =>
      this.api.patchNamespacedCustomObject(
        { group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, name, body: { metadata: { annotations: { [APPROVE_ANNOTATION]: hash } } }, fieldManager: CLI_FIELD_MANAGER },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
  }

  private async list<T extends ProxmoxVMObject | ProxmoxConnectionObject>(plural: string, namespace: string | undefined): Promise<KubernetesListObject<T>> {
    const base = { group: API_GROUP, version: API_VERSION, plural };
    const result = namespace !== undefined ? await this.api.listNamespacedCustomObject({ ...base, namespace }) : await this.api.listClusterCustomObject(base);
    return result as KubernetesListObject<T>;
  }

  /** Turns the client's errors into messages that say what to fix. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof CliError) throw error;
      const status = statusCodeOf(error);
      if (status === 401) throw new CliError(`the Kubernetes API at ${this.server} did not accept the kubeconfig's credentials (${what})`, EXIT.auth);
      if (status === 403) throw new CliError(`the Kubernetes API at ${this.server} does not allow you to ${what}: ${kubeMessage(error)}`, EXIT.auth);
      if (status === 404) throw new CliError(`the Kubernetes API at ${this.server} has no ${PROXMOX_VM.kind} resource type: are the CRDs installed? (${what})`, EXIT.notFound);
      if (status !== undefined) throw new CliError(`the Kubernetes API at ${this.server} refused to ${what} (HTTP ${status}): ${kubeMessage(error)}`);
      const code = networkCode(error);
      throw new CliError(`cannot reach the Kubernetes API at ${this.server}${code ? ` (${code})` : ""}: check the kubeconfig, or give the sidecar's URL with --server or PTM_SERVER`, EXIT.unreachable);
    }
  }
}

function kubeMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    const parsed = (typeof body === "string" ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    if (typeof parsed?.message === "string") return parsed.message;
  } catch {
    // not JSON: fall through to the error's own message
  }
  return (error as Error).message;
}

function byKey(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace);
}
