import path from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Env } from "../config/env.js";
import { StateKeySecret } from "../kube/state-key-secret.js";
import { generateStateKey, parseStateKey, StateKeyFiles, type StateKeys } from "../terraform/state-keys.js";

/**
 * Which encryption a run's tofu gets (TF_ENCRYPTION), decided from the worker's settings:
 *
 * - keys given in the environment (PTM_STATE_KEY, PTM_STATE_PREVIOUS_KEY), or else
 * - the state key Secret (PTM_STATE_KEY_SECRET in PTM_STATE_KEY_NAMESPACE), created with a
 *   random key the first time. It is read at the start of every run (one GET), so a rotation
 *   reaches every worker with its next run and no worker writes with a key others lack.
 *
 * PTM_STATE_ENCRYPTION=migrate also reads plain-text state and plans (an installation that ran
 * without encryption); `off`, or Terraform (no state encryption), writes plain text, which a VM
 * with a cloud-init password may only do when PTM_ALLOW_PLAINTEXT_STATE=true.
 */
export class StateEncryption {
  private constructor(
    private readonly o: {
      encrypt: boolean;
      readPlaintext: boolean;
      allowPlaintext: boolean;
      flavor: Env["PTM_TERRAFORM_FLAVOR"];
      files: StateKeyFiles;
      givenKeys?: StateKeys;
      secret?: StateKeySecret;
      previousPassphrase?: string;
    },
  ) {}

  static fromEnv(env: Env, kubeConfig: KubeConfig | undefined): StateEncryption {
    const encrypt = env.PTM_TERRAFORM_FLAVOR === "tofu" && env.PTM_STATE_ENCRYPTION !== "off";
    const files = new StateKeyFiles(path.join(env.PTM_WORKDIR_ROOT, ".state-keys"));
    let givenKeys: StateKeys | undefined;
    if (env.PTM_STATE_KEY !== undefined) {
      givenKeys = {
        current: parseStateKey(env.PTM_STATE_KEY, "PTM_STATE_KEY"),
        previous: env.PTM_STATE_PREVIOUS_KEY ? [parseStateKey(env.PTM_STATE_PREVIOUS_KEY, "PTM_STATE_PREVIOUS_KEY")] : [],
      };
    }
    let secret: StateKeySecret | undefined;
    if (encrypt && !givenKeys) {
      if (!kubeConfig) throw new Error("state encryption needs a key: set PTM_STATE_KEY, or run with Kubernetes access so the worker can keep one in a Secret");
      secret = new StateKeySecret(kubeConfig, env.PTM_STATE_KEY_NAMESPACE ?? env.PTM_LEASE_NAMESPACE, env.PTM_STATE_KEY_SECRET, generateStateKey);
    }
    return new StateEncryption({
      encrypt,
      readPlaintext: env.PTM_STATE_ENCRYPTION === "migrate",
      allowPlaintext: env.PTM_ALLOW_PLAINTEXT_STATE,
      flavor: env.PTM_TERRAFORM_FLAVOR,
      files,
      ...(givenKeys ? { givenKeys } : {}),
      ...(secret ? { secret } : {}),
      ...(env.PTM_STATE_ENCRYPTION_PASSPHRASE ? { previousPassphrase: env.PTM_STATE_ENCRYPTION_PASSPHRASE } : {}),
    });
  }

  get encrypts(): boolean {
    return this.o.encrypt;
  }

  /** Where the key comes from, for the worker's start-up log line (no key in it). */
  describe(): string {
    if (!this.o.encrypt) return this.o.flavor === "terraform" ? "off (Terraform has no state encryption)" : "off (PTM_STATE_ENCRYPTION=off)";
    const source = this.o.secret ? `Secret ${this.o.secret.namespace}/${this.o.secret.name}` : "PTM_STATE_KEY";
    return `aes_gcm, key from ${source}${this.o.readPlaintext ? ", reading plain-text state (migrate)" : ""}${this.o.previousPassphrase ? ", passphrase fallback" : ""}`;
  }

  /** The TF_ENCRYPTION value for a run (no secret in it: key file paths only); undefined: plain text. */
  async forRun(): Promise<string | undefined> {
    if (!this.o.encrypt) return undefined;
    const keys = this.o.givenKeys ?? (await this.keysFromSecret());
    return this.o.files.config(keys, {
      readPlaintext: this.o.readPlaintext,
      ...(this.o.previousPassphrase ? { previousPassphrase: this.o.previousPassphrase } : {}),
    });
  }

  /** Why a VM whose state would hold a cloud-init password may not run; undefined when it may. */
  plaintextRefusal(): string | undefined {
    if (this.o.encrypt || this.o.allowPlaintext) return undefined;
    const why =
      this.o.flavor === "terraform"
        ? "Terraform cannot encrypt its state (PTM_TERRAFORM_FLAVOR=terraform), so the cloud-init password would be stored in plain text in PostgreSQL"
        : "state encryption is off (PTM_STATE_ENCRYPTION=off), so the cloud-init password would be stored in plain text in PostgreSQL";
    const fix = this.o.flavor === "terraform" ? "use OpenTofu (PTM_TERRAFORM_FLAVOR=tofu)" : "turn state encryption on";
    return `${why}: ${fix}, remove initialization.userAccount.passwordSecretRef, or accept plain-text state with PTM_ALLOW_PLAINTEXT_STATE=true`;
  }

  private async keysFromSecret(): Promise<StateKeys> {
    const secret = this.o.secret!;
    const data = await secret.read();
    const where = `Secret ${secret.namespace}/${secret.name}`;
    return {
      current: parseStateKey(data.current, `${where} key "key"`),
      previous: data.previous !== undefined ? [parseStateKey(data.previous, `${where} key "previous-key"`)] : [],
    };
  }
}
