import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Reason } from "../api/conditions.js";
import { PROXMOX_CONNECTION } from "../api/group.js";
import { ProxmoxConnectionSpecSchema, type ProxmoxConnectionSpec } from "../api/proxmox-connection.js";
import { isForbidden, isNotFound } from "../kube/api-error.js";
import { CustomObjects } from "../kube/custom-objects.js";
import type { ProxmoxConnectionObject } from "../kube/types.js";
import type { ProxmoxConnectionStatus } from "../api/status.js";
import type { Env } from "../config/env.js";
import type { Redactor } from "../terraform/redact.js";
import { EndpointPolicy, type EndpointPolicyOptions } from "./endpoint-policy.js";
import { consentProblem, DEFAULT_CONSENT, type SecretConsentOptions } from "./secret-consent.js";
import type { TokenCache } from "./token-cache.js";

/** A ProxmoxConnection with its token read from its Secret. Never log or persist this. */
export interface ResolvedConnection {
  name: string;
  uid: string;
  spec: ProxmoxConnectionSpec;
  /** `user@realm!tokenid=secret`, the form PROXMOX_VE_API_TOKEN takes. */
  apiToken: string;
  caBundle?: string;
  generation: number;
  /** The connection check's last findings (health, inventory), when it has run. */
  status?: ProxmoxConnectionStatus;
}

/** Why a VM cannot use its connection yet: each is a condition reason as it is. */
export type ConnectionProblemReason =
  | typeof Reason.ConnectionNotFound
  | typeof Reason.SecretNotFound
  | typeof Reason.SecretForbidden
  | typeof Reason.SecretNotConsented
  | typeof Reason.EndpointNotAllowed
  | typeof Reason.InvalidSpec;

export class ConnectionProblem extends Error {
  constructor(
    readonly reason: ConnectionProblemReason,
    message: string,
  ) {
    super(message);
    this.name = "ConnectionProblem";
  }
}

const TOKEN_FORM = /^[^@\s!]+@[^@\s!]+![A-Za-z][A-Za-z0-9._-]*=[^\s]+$/;

export interface ConnectionPolicy {
  consent: SecretConsentOptions;
  endpoints: EndpointPolicyOptions;
  /** Learns every Secret value read, so logs and outputs sharing it can redact them. */
  redactor?: Redactor;
}

/** The policy as the environment sets it (PTM_SECRET_CONSENT, PTM_ALLOW_HTTP_ENDPOINTS, ...). */
export function connectionPolicyFromEnv(env: Env, redactor?: Redactor): ConnectionPolicy {
  return {
    consent: { mode: env.PTM_SECRET_CONSENT, consumer: env.PTM_SECRET_CONSUMER },
    endpoints: { allowHttp: env.PTM_ALLOW_HTTP_ENDPOINTS, allowlist: env.PTM_ENDPOINT_ALLOWLIST },
    ...(redactor ? { redactor } : {}),
  };
}

/** Without configuration: consent required, https:// only, any host. */
export const DEFAULT_CONNECTION_POLICY: ConnectionPolicy = { consent: DEFAULT_CONSENT, endpoints: { allowHttp: false, allowlist: [] } };

/** Where the controller keeps ProxmoxConnections it watches (its informer's cache). */
export interface ConnectionSource {
  /** Before the first list has filled the cache a miss means nothing; the resolver GETs instead. */
  readonly isSynced: boolean;
  get(name: string, namespace?: string): ProxmoxConnectionObject | undefined;
}

/**
 * What lets the controller resolve without API reads: connections from its informer, tokens kept
 * per connection version. Workers resolve without it (a run reads its token afresh).
 */
export interface ResolverCache {
  /** Lazy: the informer exists only once the controller does. */
  connections: () => ConnectionSource | undefined;
  tokens: TokenCache;
}

/**
 * Reads a VM's ProxmoxConnection and the Secrets it names, failing with a condition-ready reason.
 * Order matters: the endpoint is checked before any Secret is read, and a Secret's consent
 * before its value is looked at, so a refused request never holds a credential.
 */
export class ConnectionResolver {
  private readonly connections: CustomObjects<ProxmoxConnectionObject>;
  private readonly core: CoreV1Api;
  private readonly endpoints: EndpointPolicy;

  constructor(
    kubeConfig: KubeConfig,
    private readonly policy: ConnectionPolicy = DEFAULT_CONNECTION_POLICY,
    private readonly cache?: ResolverCache,
  ) {
    this.connections = new CustomObjects(kubeConfig, PROXMOX_CONNECTION.plural);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.endpoints = new EndpointPolicy(policy.endpoints);
  }

  /** Drops the kept token of a connection (a run met an auth failure): the next resolve reads its Secret. */
  forget(namespace: string, connectionName: string): void {
    this.cache?.tokens.forget(`${namespace}/${connectionName}`);
  }

  async resolve(namespace: string, connectionName: string): Promise<ResolvedConnection> {
    const connection = await this.readConnection(namespace, connectionName);
    const parsed = ProxmoxConnectionSpecSchema.safeParse(connection.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConnectionProblem(Reason.InvalidSpec, `ProxmoxConnection ${connectionName}: spec.${issue.path.join(".")}: ${issue.message}`);
    }
    const spec = parsed.data;
    const endpointProblem = this.endpoints.problem(spec.endpoint);
    if (endpointProblem) throw new ConnectionProblem(Reason.EndpointNotAllowed, `ProxmoxConnection ${connectionName}: ${endpointProblem}`);
    const cacheKey = `${namespace}/${connectionName}`;
    const kept = this.cache?.tokens.get(cacheKey, connection.metadata.resourceVersion);
    const { apiToken, caBundle } = kept ?? (await this.readToken(namespace, connectionName, spec));
    if (!kept) this.cache?.tokens.set(cacheKey, connection.metadata.resourceVersion, { apiToken, ...(caBundle ? { caBundle } : {}) });
    return {
      name: connectionName,
      uid: connection.metadata.uid,
      generation: connection.metadata.generation ?? 0,
      spec,
      apiToken,
      ...(caBundle ? { caBundle } : {}),
      ...(connection.status ? { status: connection.status } : {}),
    };
  }

  private async readConnection(namespace: string, connectionName: string): Promise<ProxmoxConnectionObject> {
    const notFound = () =>
      new ConnectionProblem(Reason.ConnectionNotFound, `ProxmoxConnection ${namespace}/${connectionName} not found; create it or fix spec.connectionRef.name`);
    const source = this.cache?.connections();
    if (source?.isSynced) {
      // The informer hears of a new connection before it wakes the VMs that wait on it.
      const cached = source.get(connectionName, namespace);
      if (!cached) throw notFound();
      return cached;
    }
    try {
      return await this.connections.get(namespace, connectionName);
    } catch (error) {
      if (isNotFound(error)) throw notFound();
      throw error;
    }
  }

  private async readToken(namespace: string, connectionName: string, spec: ProxmoxConnectionSpec): Promise<{ apiToken: string; caBundle?: string }> {
    const rawToken = await this.readSecretKey(namespace, spec.tokenSecretRef.name, spec.tokenSecretRef.key, `ProxmoxConnection ${connectionName}`);
    const apiToken = rawToken.trim().replace(/^PVEAPIToken=/, "");
    if (!TOKEN_FORM.test(apiToken)) {
      // Say what is wrong without echoing the value.
      throw new ConnectionProblem(
        Reason.InvalidSpec,
        `Secret ${spec.tokenSecretRef.name} key ${spec.tokenSecretRef.key} is not an API token of the form PVEAPIToken=user@realm!tokenid=secret`,
      );
    }
    const caBundle = spec.caBundleSecretRef
      ? await this.readSecretKey(namespace, spec.caBundleSecretRef.name, spec.caBundleSecretRef.key, `ProxmoxConnection ${connectionName}`)
      : undefined;
    return { apiToken, ...(caBundle ? { caBundle } : {}) };
  }

  /**
   * Reads one key of a Secret that consents to `usedBy` ("ProxmoxConnection <name>" or
   * "ProxmoxVM <name>"); the error names the Secret and key, never the value.
   */
  async readSecretKey(namespace: string, secretName: string, key: string, usedBy: string): Promise<string> {
    try {
      const secret = await this.core.readNamespacedSecret({ name: secretName, namespace });
      const refused = consentProblem(this.policy.consent, namespace, secretName, secret.metadata, usedBy);
      if (refused) throw new ConnectionProblem(Reason.SecretNotConsented, refused);
      const encoded = secret.data?.[key];
      if (encoded === undefined) {
        throw new ConnectionProblem(Reason.SecretNotFound, `Secret ${namespace}/${secretName} has no key ${key} (used by ${usedBy})`);
      }
      const value = Buffer.from(encoded, "base64").toString("utf8");
      this.policy.redactor?.add(value);
      return value;
    } catch (error) {
      if (isNotFound(error)) {
        throw new ConnectionProblem(Reason.SecretNotFound, `Secret ${namespace}/${secretName} not found (used by ${usedBy})`);
      }
      // Least-privilege installs grant Secret reads per namespace (Helm value rbac.secretNamespaces).
      if (isForbidden(error)) {
        throw new ConnectionProblem(
          Reason.SecretForbidden,
          `the operator may not read Secret ${namespace}/${secretName} (used by ${usedBy}): grant it, e.g. with the Helm value rbac.secretNamespaces including ${namespace}`,
        );
      }
      throw error;
    }
  }
}
