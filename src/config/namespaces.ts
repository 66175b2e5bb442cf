/**
 * PTM_NAMESPACE: which namespaces the controller manages. Unset or "" = every namespace; one name
 * = that namespace (namespaced list and watch, so a namespaced Role suffices); a comma-separated
 * list = those namespaces (one cluster-wide list and watch, filtered: it needs cluster-wide read
 * access to ProxmoxVMs and ProxmoxConnections).
 */
export type WatchedNamespaces = readonly string[] | undefined;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The namespaces named by a PTM_NAMESPACE value, or undefined for every namespace. */
export function watchedNamespaces(value: string | undefined): WatchedNamespaces {
  const names = [...new Set((value ?? "").split(",").map((part) => part.trim()).filter((part) => part !== ""))];
  return names.length > 0 ? names : undefined;
}

/** Why a PTM_NAMESPACE value is not valid, or undefined when it is. */
export function invalidNamespaceEntry(value: string | undefined): string | undefined {
  for (const name of watchedNamespaces(value) ?? []) {
    if (name.length > 63 || !DNS_LABEL.test(name)) return `"${name}" is not a namespace name (lowercase letters, digits and '-', at most 63)`;
  }
  return undefined;
}

/** "all namespaces", "namespace demo" or "namespaces demo, default": for logs and messages. */
export function describeWatched(namespaces: WatchedNamespaces): string {
  if (!namespaces) return "all namespaces";
  return `${namespaces.length === 1 ? "namespace" : "namespaces"} ${namespaces.join(", ")}`;
}
