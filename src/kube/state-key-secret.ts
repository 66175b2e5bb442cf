import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { InvalidStateKey } from "../terraform/state-keys.js";
import { isConflict, isForbidden, isNotFound } from "./api-error.js";

/** Data keys of the state key Secret. */
export const STATE_KEY_DATA = { current: "key", previous: "previous-key" } as const;

export interface StateKeySecretData {
  current: string;
  previous?: string;
  /** True when this call created the Secret. */
  created: boolean;
}

/**
 * The operator's state key Secret: read it, or create it with a fresh key when it does not
 * exist. Creation is race-safe: of several workers that find it missing, one create wins and
 * the others (409 AlreadyExists) read what it wrote, so every worker uses the same key.
 */
export class StateKeySecret {
  private readonly core: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    readonly namespace: string,
    readonly name: string,
    private readonly generate: () => string,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(): Promise<StateKeySecretData> {
    try {
      return await this.readOrCreate();
    } catch (error) {
      // RBAC, not time, is at fault: the run fails for good and says what to grant.
      if (isForbidden(error)) {
        throw new InvalidStateKey(
          `the worker may not read or create the state key Secret ${this.namespace}/${this.name}: grant it get on that Secret and create on secrets in ${this.namespace} (the chart's rbac-state-key.yaml), or give the key as PTM_STATE_KEY`,
        );
      }
      throw error;
    }
  }

  private async readOrCreate(): Promise<StateKeySecretData> {
    const existing = await this.get();
    if (existing) return this.dataOf(existing, false);
    const secret: V1Secret = {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { "app.kubernetes.io/managed-by": "proxmox-terraform-manager" },
        annotations: { "proxmox.terraform-manager.dev/purpose": "Terraform state and plan encryption key; losing it makes the state unreadable" },
      },
      type: "Opaque",
      data: { [STATE_KEY_DATA.current]: Buffer.from(this.generate()).toString("base64") },
    };
    try {
      return this.dataOf(await this.core.createNamespacedSecret({ namespace: this.namespace, body: secret }), true);
    } catch (error) {
      if (!isConflict(error)) throw error; // 409 AlreadyExists: another worker created it
      const winner = await this.get();
      if (!winner) throw error;
      return this.dataOf(winner, false);
    }
  }

  private async get(): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace: this.namespace, name: this.name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  private dataOf(secret: V1Secret, created: boolean): StateKeySecretData {
    const decode = (k: string) => {
      const v = secret.data?.[k];
      return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
    };
    const current = decode(STATE_KEY_DATA.current);
    if (current === undefined) throw new InvalidStateKey(`Secret ${this.namespace}/${this.name} has no "${STATE_KEY_DATA.current}": put the state key there (32 random bytes, base64)`);
    const previous = decode(STATE_KEY_DATA.previous);
    return { current, ...(previous !== undefined && previous.trim() !== "" ? { previous } : {}), created };
  }
}
