import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CustomObjectsApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "../support/kube.js";

// A throwaway CRD in its own group, so this test cannot collide with the project's CRDs.
const group = "smoke.platform.ptm.dev";
const plural = "widgets";

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: ${plural}, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
            status:
              type: object
              properties:
                phase: { type: string }
`;

interface Widget extends KubernetesObject {
  spec: { size: number };
  status?: { phase?: string };
}

describe("the platform's Kubernetes API server", () => {
  const namespace = uniqueName("smoke");
  const kc = platformKubeConfig();
  const custom = kc.makeApiClient(CustomObjectsApi);

  beforeAll(async () => {
    await kubectl(["apply", "-f", "-"], crd);
    await kubectl(["wait", "--for=condition=Established", `crd/${plural}.${group}`, "--timeout=60s"]);
    await kubectl(["create", "namespace", namespace]);
  });

  afterAll(async () => {
    await deleteNamespace(namespace);
  });

  it("serves a custom resource applied with kubectl to client-node", async () => {
    await kubectl(["apply", "-n", namespace, "-f", "-"], widget("first", 3));
    const read = (await custom.getNamespacedCustomObject({ group, version: "v1", namespace, plural, name: "first" })) as Widget;
    expect(read.spec.size).toBe(3);
    expect(read.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("rejects a custom resource that breaks the schema, naming the field", async () => {
    await expect(kubectl(["apply", "-n", namespace, "-f", "-"], widget("bad", 0))).rejects.toThrow(/spec\.size/);
  });

  it("delivers an update to a watch", async () => {
    await kubectl(["apply", "-n", namespace, "-f", "-"], widget("watched", 1));
    let onModified!: (w: Widget) => void;
    let onError!: (e: unknown) => void;
    const seen = new Promise<Widget>((resolve, reject) => {
      onModified = resolve;
      onError = reject;
    });
    const watch = new Watch(kc);
    const request = await watch.watch(
      `/apis/${group}/v1/namespaces/${namespace}/${plural}`,
      { fieldSelector: "metadata.name=watched" },
      (type, obj: Widget) => {
        if (type === "MODIFIED" && obj.spec.size === 5) onModified(obj);
      },
      (err) => {
        if (err && (err as Error).name !== "AbortError") onError(err);
      },
    );
    try {
      await kubectl(["patch", "-n", namespace, `${plural}.${group}`, "watched", "--type=merge", "-p", '{"spec":{"size":5}}']);
      const modified = await seen;
      expect(modified.spec.size).toBe(5);
      expect(modified.metadata?.generation).toBe(2);
    } finally {
      request.abort();
    }
  });

  it("patches status only through the status subresource", async () => {
    await kubectl(["apply", "-n", namespace, "-f", "-"], widget("statusful", 2));
    const before = (await custom.getNamespacedCustomObject({ group, version: "v1", namespace, plural, name: "statusful" })) as Widget;
    const patched = (await custom.patchNamespacedCustomObjectStatus(
      { group, version: "v1", namespace, plural, name: "statusful", body: { status: { phase: "Ready" }, spec: { size: 9 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )) as Widget;
    expect(patched.status?.phase).toBe("Ready");
    // The status subresource ignores spec changes and does not bump the generation.
    expect(patched.spec.size).toBe(2);
    expect(patched.metadata?.generation).toBe(before.metadata?.generation);
    const viaKubectl = JSON.parse(await kubectl(["get", "-n", namespace, `${plural}.${group}`, "statusful", "-o", "json"])) as Widget;
    expect(viaKubectl.status?.phase).toBe("Ready");
  });
});

function widget(name: string, size: number): string {
  return `apiVersion: ${group}/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  size: ${size}\n`;
}
