/**
 * The Terraform workspace (in the pg backend: one state row) of a ProxmoxVM. A namespace is a DNS
 * label without dots, so the first "." separates it from the name and the result is unique; neither
 * part can hold "/" or whitespace, so it is always a valid workspace name.
 */
export function workspaceName(namespace: string, name: string): string {
  return `${namespace}.${name}`;
}
