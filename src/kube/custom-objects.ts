import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, FIELD_MANAGER } from "../api/group.js";

/** Typed access to one plural of the operator's API group. */
export class CustomObjects<T extends KubernetesObject> {
  private readonly api: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    readonly plural: string,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  private ref(namespace: string, name: string) {
    return { group: API_GROUP, version: API_VERSION, namespace, plural: this.plural, name };
  }

  async get(namespace: string, name: string): Promise<T> {
    return (await this.api.getNamespacedCustomObject(this.ref(namespace, name))) as T;
  }

  async list(namespace?: string): Promise<KubernetesListObject<T>> {
    const result = namespace
      ? await this.api.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: this.plural })
      : await this.api.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: this.plural });
    return result as KubernetesListObject<T>;
  }

  /** Replaces status with optimistic concurrency: the body carries metadata.resourceVersion. */
  async replaceStatus(obj: T): Promise<T> {
    const { namespace, name } = obj.metadata as { namespace: string; name: string };
    return (await this.api.replaceNamespacedCustomObjectStatus({
      ...this.ref(namespace, name),
      body: obj,
      fieldManager: FIELD_MANAGER,
    })) as T;
  }

  /** Sets annotations (merge patch) as `fieldManager`, so managedFields say who wrote them. */
  async annotate(namespace: string, name: string, annotations: Record<string, string>, fieldManager: string): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.ref(namespace, name), body: { metadata: { annotations } }, fieldManager },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )) as T;
  }

  async jsonPatch(namespace: string, name: string, operations: object[]): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.ref(namespace, name), body: operations, fieldManager: FIELD_MANAGER },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    )) as T;
  }
}
