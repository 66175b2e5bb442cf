/**
 * Why tofu refused a plan under `lifecycle.prevent_destroy`: the resources the same plan without
 * the guard would delete, and the attribute paths that force it (`resource_changes[].change
 * .replace_paths` and `action_reason` of `show -json` on a saved plan). Pure functions; the
 * runner's `planReplacements` makes that unguarded plan, shows it and deletes it.
 */

export interface ForcingAttribute {
  /** The attribute path joined with ".", e.g. "node_name", "tpm_state.0.version". */
  path: string;
  /** The value in state (what Proxmox has) and in the configuration, when both are plain and not sensitive. */
  before?: string;
  after?: string;
}

export interface Replacement {
  /** e.g. "proxmox_virtual_environment_vm.vm". */
  address: string;
  /** tofu's actions, e.g. ["delete", "create"]. */
  actions: string[];
  /** tofu's action_reason, e.g. "replace_because_cannot_update", when it gives one. */
  reason?: string;
  forcedBy: ForcingAttribute[];
}

interface ResourceChange {
  address?: string;
  action_reason?: string;
  change?: {
    actions?: string[];
    replace_paths?: unknown[][];
    before?: unknown;
    after?: unknown;
    before_sensitive?: unknown;
    after_sensitive?: unknown;
  };
}

/** Words in a path that mark a value never to repeat, whatever the sensitivity marks say. */
const SECRET_WORDS = /password|secret|token|key|user_data|vendor_data|meta_data|network_data/i;

function at(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const step of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

/** A value fit to show: a string, number or boolean nobody marked sensitive. */
function shown(values: unknown, sensitivity: unknown, path: readonly (string | number)[]): string | undefined {
  if (SECRET_WORDS.test(path.join("."))) return undefined;
  for (let i = 0; i <= path.length; i++) if (at(sensitivity, path.slice(0, i)) === true) return undefined;
  const v = at(values, path);
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

/** The resources a `show -json` plan would delete (replacements included), with what forces each. */
export function replacementsInPlan(plan: unknown): Replacement[] {
  const changes = ((plan as { resource_changes?: ResourceChange[] } | null)?.resource_changes ?? []).filter((rc) => rc.change?.actions?.includes("delete"));
  return changes.map((rc) => {
    const c = rc.change!;
    const forcedBy = (c.replace_paths ?? []).map((raw) => {
      const path = raw.filter((p): p is string | number => typeof p === "string" || typeof p === "number");
      const before = shown(c.before, c.before_sensitive, path);
      const after = shown(c.after, c.after_sensitive, path);
      return { path: path.join("."), ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) };
    });
    return { address: rc.address ?? "", actions: c.actions ?? [], ...(rc.action_reason ? { reason: rc.action_reason } : {}), forcedBy };
  });
}

/** The same Terraform JSON configuration with every resource's `prevent_destroy` removed. */
export function withoutPreventDestroy(configJson: string): string {
  const config = JSON.parse(configJson) as { resource?: Record<string, Record<string, { lifecycle?: Record<string, unknown> }>> };
  for (const byName of Object.values(config.resource ?? {})) {
    for (const resource of Object.values(byName)) {
      if (resource.lifecycle) delete resource.lifecycle.prevent_destroy;
    }
  }
  return JSON.stringify(config, null, 2);
}

/** Where in a ProxmoxVM spec a provider attribute comes from, for the ones a user can act on. */
const SPEC_FIELD: Record<string, string> = {
  node_name: "spec.nodeName",
  vm_id: "spec.vmId",
};

/** What avoids the replacement, where the spec has a way. */
const REMEDY: Record<string, string> = {
  node_name: "set spec.migrate: true to migrate the VM instead",
};

/** One line for status: "node_name (spec.nodeName): Proxmox has "pve2", the spec says "pve1"". */
export function describeForcingAttributes(replacements: readonly Replacement[]): string {
  const parts = replacements.flatMap((r) => r.forcedBy).map((a) => {
    const attribute = a.path.split(".")[0] ?? "";
    const field = SPEC_FIELD[attribute];
    const remedy = REMEDY[attribute] ? ` (${REMEDY[attribute]})` : "";
    const name = field ? `${a.path} (${field})` : a.path;
    if (a.before !== undefined && a.after !== undefined) return `${name}: Proxmox has ${JSON.stringify(a.before)}, the spec says ${JSON.stringify(a.after)}${remedy}`;
    return `${name}${remedy}`;
  });
  return parts.length > 0 ? parts.join("; ") : "no attribute named by tofu (the resource is tainted or its replacement was requested)";
}
