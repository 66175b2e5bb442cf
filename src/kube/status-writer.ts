import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { isConflict, isNotFound } from "./api-error.js";
import type { CustomObjects } from "./custom-objects.js";

type WithStatus<S> = KubernetesObject & { status?: S };

/**
 * Writes status through the status subresource: read fresh, apply `mutate`, write only when
 * something changed, retry on 409 Conflict. Each writer changes only the fields it owns, so the
 * controller and workers can both write without losing each other's updates.
 */
export class StatusWriter<S, T extends WithStatus<S>> {
  constructor(
    private readonly client: CustomObjects<T>,
    private readonly maxAttempts = 8,
  ) {}

  /** Returns the object as written (or as read when nothing changed); undefined if it is gone. */
  async update(namespace: string, name: string, mutate: (status: S, obj: T) => S, expectedUid?: string): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      let obj: T;
      try {
        obj = await this.client.get(namespace, name);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      if (expectedUid && obj.metadata?.uid !== expectedUid) return undefined;
      const before = (obj.status ?? {}) as S;
      const after = mutate(structuredClone(before), obj);
      if (isDeepStrictEqual(stripUndefined(before), stripUndefined(after))) return obj;
      try {
        return await this.client.replaceStatus({ ...obj, status: after });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (!isConflict(error) || attempt >= this.maxAttempts) throw error;
        await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt) * Math.random()));
      }
    }
  }
}

function stripUndefined(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {}));
}
