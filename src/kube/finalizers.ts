import { FINALIZER } from "../api/group.js";
import type { CustomObjects } from "./custom-objects.js";
import type { KubernetesObject } from "@kubernetes/client-node";

/**
 * Finalizer edits as JSON patches guarded by a `test` of what we read, so a stale object can
 * never overwrite a finalizer list that someone else changed meanwhile (the patch fails with
 * 422 instead, and the caller reconciles again from a fresh read).
 */
export function hasFinalizer(obj: KubernetesObject, finalizer = FINALIZER): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export async function addFinalizer<T extends KubernetesObject>(client: CustomObjects<T>, obj: T, finalizer = FINALIZER): Promise<T> {
  const { namespace, name } = obj.metadata as { namespace: string; name: string };
  const current = obj.metadata?.finalizers;
  const ops = current
    ? [
        { op: "test", path: "/metadata/finalizers", value: current },
        { op: "add", path: "/metadata/finalizers/-", value: finalizer },
      ]
    : [
        { op: "test", path: "/metadata/uid", value: obj.metadata?.uid },
        { op: "add", path: "/metadata/finalizers", value: [finalizer] },
      ];
  return client.jsonPatch(namespace, name, ops);
}

export async function removeFinalizer<T extends KubernetesObject>(client: CustomObjects<T>, obj: T, finalizer = FINALIZER): Promise<T | undefined> {
  const index = obj.metadata?.finalizers?.indexOf(finalizer) ?? -1;
  if (index < 0) return obj;
  const { namespace, name } = obj.metadata as { namespace: string; name: string };
  return client.jsonPatch(namespace, name, [
    { op: "test", path: `/metadata/finalizers/${index}`, value: finalizer },
    { op: "remove", path: `/metadata/finalizers/${index}` },
  ]);
}
