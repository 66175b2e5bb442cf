import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { PROXMOX_CONNECTION } from "../api/group.js";
import { ProxmoxConnectionSpecSchema, type ProxmoxConnectionSpec } from "../api/proxmox-connection.js";
import { isForbidden, isNotFound } from "../kube/api-error.js";
import { CustomObjects } from "../kube/custom-objects.js";
import type { ProxmoxConnectionObject } from "../kube/types.js";

/** A ProxmoxConnection with its token read from its Secret. Never log or persist this. */
export interface ResolvedConnection {
  name: string;
  uid: string;
  spec: ProxmoxConnectionSpec;
  /** `user@realm!tokenid=secret`, the form PROXMOX_VE_API_TOKEN takes. */
  apiToken: string;
  caBundle?: string;
}

export class ConnectionProblem extends Error {
  constructor(
    readonly reason: "ConnectionNotFound" | "SecretNotFound" | "SecretForbidden" | "InvalidSpec",
    message: string,
  ) {
    super(message);
    this.name = "ConnectionProblem";
  }
}

const TOKEN_FORM = /^[^@\s!]+@[^@\s!]+![A-Za-z][A-Za-z0-9._-]*=[^\s]+$/;

/** Reads a VM's ProxmoxConnection and the Secrets it names, failing with a condition-ready reason. */
export class ConnectionResolver {
  private readonly connections: CustomObjects<ProxmoxConnectionObject>;
  private readonly core: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.connections = new CustomObjects(kubeConfig, PROXMOX_CONNECTION.plural);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async resolve(namespace: string, connectionName: string): Promise<ResolvedConnection> {
    let connection: ProxmoxConnectionObject;
    try {
      connection = await this.connections.get(namespace, connectionName);
    } catch (error) {
      if (isNotFound(error)) {
        throw new ConnectionProblem("ConnectionNotFound", `ProxmoxConnection ${namespace}/${connectionName} not found; create it or fix spec.connectionRef.name`);
      }
      throw error;
    }
    const parsed = ProxmoxConnectionSpecSchema.safeParse(connection.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConnectionProblem("InvalidSpec", `ProxmoxConnection ${connectionName}: spec.${issue.path.join(".")}: ${issue.message}`);
    }
    const spec = parsed.data;
    const rawToken = await this.readSecretKey(namespace, spec.tokenSecretRef.name, spec.tokenSecretRef.key, `ProxmoxConnection ${connectionName}`);
    const apiToken = rawToken.trim().replace(/^PVEAPIToken=/, "");
    if (!TOKEN_FORM.test(apiToken)) {
      // Say what is wrong without echoing the value.
      throw new ConnectionProblem(
        "InvalidSpec",
        `Secret ${spec.tokenSecretRef.name} key ${spec.tokenSecretRef.key} is not an API token of the form PVEAPIToken=user@realm!tokenid=secret`,
      );
    }
    const caBundle = spec.caBundleSecretRef
      ? await this.readSecretKey(namespace, spec.caBundleSecretRef.name, spec.caBundleSecretRef.key, `ProxmoxConnection ${connectionName}`)
      : undefined;
    return { name: connectionName, uid: connection.metadata.uid, spec, apiToken, ...(caBundle ? { caBundle } : {}) };
  }

  /** Reads one key of a Secret; the error names the Secret and key, never the value. */
  async readSecretKey(namespace: string, secretName: string, key: string, usedBy: string): Promise<string> {
    try {
      const secret = await this.core.readNamespacedSecret({ name: secretName, namespace });
      const encoded = secret.data?.[key];
      if (encoded === undefined) {
        throw new ConnectionProblem("SecretNotFound", `Secret ${namespace}/${secretName} has no key ${key} (used by ${usedBy})`);
      }
      return Buffer.from(encoded, "base64").toString("utf8");
    } catch (error) {
      if (isNotFound(error)) {
        throw new ConnectionProblem("SecretNotFound", `Secret ${namespace}/${secretName} not found (used by ${usedBy})`);
      }
      // Least-privilege installs grant Secret reads per namespace (Helm value rbac.secretNamespaces).
      if (isForbidden(error)) {
        throw new ConnectionProblem(
          "SecretForbidden",
          `the operator may not read Secret ${namespace}/${secretName} (used by ${usedBy}): grant it, e.g. with the Helm value rbac.secretNamespaces including ${namespace}`,
        );
      }
      throw error;
    }
  }
}
