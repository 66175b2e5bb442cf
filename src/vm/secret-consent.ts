import { API_GROUP } from "../api/group.js";

/**
 * A Secret's consent to being used by this operator. RBAC lets the operator read Secrets in a
 * namespace, but whoever can create a ProxmoxConnection or ProxmoxVM there could otherwise name
 * any of them and have its value sent to an endpoint of their choosing (a confused deputy). So a
 * Secret is used only when it says so itself, which takes the right to edit that Secret:
 *
 *   labels:      proxmox.terraform-manager.dev/consumer: <operator name, PTM_SECRET_CONSUMER>
 *   annotations: proxmox.terraform-manager.dev/allowed-users: "ProxmoxConnection/pve, ProxmoxVM/*"   (optional)
 *
 * References never leave their namespace, so the Secret's own namespace is implied; the
 * annotation narrows use further to the named ProxmoxConnections and ProxmoxVMs (`*`: any name).
 */
export const CONSENT_LABEL = `${API_GROUP}/consumer`;
export const ALLOWED_USERS_ANNOTATION = `${API_GROUP}/allowed-users`;

export interface SecretConsentOptions {
  /** "off" trusts every Secret the operator's RBAC lets it read (single-tenant clusters). */
  mode: "required" | "off";
  /** The label value that names this operator installation. */
  consumer: string;
}

export const DEFAULT_CONSENT: SecretConsentOptions = { mode: "required", consumer: "proxmox-terraform-manager" };

/** Who wants the Secret: "ProxmoxConnection pve" or "ProxmoxVM web" (the form of the resolver's `usedBy`). */
export interface SecretUser {
  kind: string;
  name: string;
}

export function parseSecretUser(usedBy: string): SecretUser | undefined {
  const m = /^(ProxmoxConnection|ProxmoxVM) (\S+)$/.exec(usedBy);
  return m ? { kind: m[1]!, name: m[2]! } : undefined;
}

interface SecretMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Why the Secret may not be used by `usedBy`, with the commands that consent; undefined when it may. */
export function consentProblem(o: SecretConsentOptions, namespace: string, secretName: string, metadata: SecretMetadata | undefined, usedBy: string): string | undefined {
  if (o.mode === "off") return undefined;
  const user = parseSecretUser(usedBy);
  const label = metadata?.labels?.[CONSENT_LABEL];
  if (label !== o.consumer) {
    const userHint = user ? ` (optionally only for it: kubectl annotate secret -n ${namespace} ${secretName} ${ALLOWED_USERS_ANNOTATION}=${user.kind}/${user.name})` : "";
    return (
      `Secret ${namespace}/${secretName} (used by ${usedBy}) does not consent to use by this operator: it needs the label ${CONSENT_LABEL}=${o.consumer}. ` +
      `Whoever owns the Secret consents with: kubectl label secret -n ${namespace} ${secretName} ${CONSENT_LABEL}=${o.consumer}${userHint}`
    );
  }
  const allowed = metadata?.annotations?.[ALLOWED_USERS_ANNOTATION];
  if (allowed === undefined) return undefined;
  const entries = allowed
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const permitted = user !== undefined && entries.some((entry) => entry === `${user.kind}/${user.name}` || entry === `${user.kind}/*`);
  if (permitted) return undefined;
  return (
    `Secret ${namespace}/${secretName} allows only ${entries.join(", ") || "no one"} (annotation ${ALLOWED_USERS_ANNOTATION}), not ${usedBy}. ` +
    `Whoever owns the Secret can add ${user ? `${user.kind}/${user.name}` : "it"} to that annotation`
  );
}
