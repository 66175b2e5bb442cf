/**
 * Plans people can read: `tofu show -json <planfile>` reduced to the resources it changes and
 * each changed attribute path with its value before → after, and the same walk over two
 * synthesized stacks (the desired change). Pure functions.
 *
 * Values are never copied when tofu marks them sensitive (`before_sensitive`/`after_sensitive`),
 * or when their path names a secret (password, token, key, user data): those read "(sensitive)".
 * Values tofu will only know after the apply (`after_unknown`) read "(known after apply)".
 *
 * Paths: "memory.dedicated", "disk[1].size". A list holding at most one object on either side is
 * how Terraform encodes a single nested block (bpg's `memory`, `cpu`, `agent`, ...), so its index
 * is left out; lists of more than one keep theirs.
 */

export const SENSITIVE = "(sensitive)";
export const KNOWN_AFTER_APPLY = "(known after apply)";

export type PlannedAction = "create" | "update" | "delete" | "read" | "no-op";

export interface AttributeChange {
  path: string;
  action: "add" | "change" | "remove";
  before: unknown;
  after: unknown;
}

export interface PlannedResource {
  address: string;
  actions: PlannedAction[];
  replace: boolean;
  /** Attribute paths that force the replacement (tofu's replace_paths). */
  replacedBy?: string[];
  changes: AttributeChange[];
}

export interface PlannedChange {
  resources: PlannedResource[];
}

export interface DesiredChange {
  changes: AttributeChange[];
}

/** Words in a path that mark a value never to repeat, whatever the sensitivity marks say. */
const SECRET_PATH = /password|secret|token|private|(^|[._\]])keys?($|[._[])|user_data|vendor_data|meta_data|network_data|ssh_keys/i;

type Step = string | number;

interface Marks {
  /** tofu's sensitivity tree for the side (true at a sensitive leaf or subtree). */
  beforeSensitive?: unknown;
  afterSensitive?: unknown;
  /** tofu's after_unknown tree. */
  afterUnknown?: unknown;
}

interface ResourceChangeJson {
  address?: unknown;
  mode?: unknown;
  action_reason?: unknown;
  change?: {
    actions?: unknown;
    before?: unknown;
    after?: unknown;
    after_unknown?: unknown;
    before_sensitive?: unknown;
    after_sensitive?: unknown;
    replace_paths?: unknown;
  };
}

const ACTIONS = new Set<PlannedAction>(["create", "update", "delete", "read", "no-op"]);

/** The resources a plan (`show -json`) changes; resources it leaves alone are left out. */
export function plannedChange(shown: unknown): PlannedChange {
  const all = (shown as { resource_changes?: unknown } | null)?.resource_changes;
  const resources: PlannedResource[] = [];
  for (const rc of Array.isArray(all) ? (all as ResourceChangeJson[]) : []) {
    const c = rc.change ?? {};
    const actions = (Array.isArray(c.actions) ? c.actions : []).filter((a): a is PlannedAction => ACTIONS.has(a as PlannedAction));
    if (actions.length === 0 || actions.every((a) => a === "no-op")) continue;
    const replace = actions.includes("delete") && actions.includes("create");
    const marks = { beforeSensitive: c.before_sensitive, afterSensitive: c.after_sensitive, afterUnknown: c.after_unknown };
    const resource: PlannedResource = {
      address: typeof rc.address === "string" ? rc.address : "",
      actions,
      replace,
      changes: diffValues(c.before ?? null, c.after ?? null, marks),
    };
    const paths = Array.isArray(c.replace_paths) ? (c.replace_paths as unknown[]) : [];
    if (replace || paths.length > 0) {
      resource.replacedBy = paths.filter(Array.isArray).map((p) => formatPath((p as unknown[]).filter(isStep), c.before, c.after));
    }
    resources.push(resource);
  }
  return { resources };
}

/**
 * The desired change: one synthesized stack against another (the last applied one; undefined
 * for a VM's first run). Paths inside the VM resource are relative to it ("memory.dedicated");
 * anything else keeps its full path ("terraform.required_providers.proxmox.version").
 */
export function desiredChange(previous: unknown, next: unknown, vmAddress: readonly [string, string]): DesiredChange {
  const [type, name] = vmAddress;
  const vmOf = (config: unknown) => (config as { resource?: Record<string, Record<string, unknown>> } | null)?.resource?.[type]?.[name];
  const rest = (config: unknown) => {
    if (config === null || typeof config !== "object") return null;
    const copy = structuredClone(config) as { resource?: Record<string, Record<string, unknown>> };
    delete copy.resource?.[type]?.[name];
    return copy;
  };
  return {
    changes: [...diffValues(vmOf(previous) ?? null, vmOf(next) ?? null, {}), ...diffValues(rest(previous), rest(next), {})],
  };
}

/** Every leaf that differs between `before` and `after`, in path order. */
export function diffValues(before: unknown, after: unknown, marks: Marks): AttributeChange[] {
  const out: AttributeChange[] = [];
  walk(before, after, [], "", marks, out);
  return out;
}

function walk(before: unknown, after: unknown, steps: Step[], path: string, marks: Marks, out: AttributeChange[]): void {
  const unknownAfter = markedAt(marks.afterUnknown, steps);
  if (isObject(before) || isObject(after)) {
    if (!unknownAfter) {
      const b = isObject(before) ? before : {};
      const a = isObject(after) ? after : {};
      // tofu leaves attributes it will only know after the apply out of `after`.
      const u = nodeAt(marks.afterUnknown, steps);
      const unknownKeys = isObject(u) ? Object.keys(u).filter((k) => u[k] === true) : [];
      for (const key of [...new Set([...Object.keys(b), ...Object.keys(a), ...unknownKeys])].sort()) {
        walk(b[key], a[key], [...steps, key], path ? `${path}.${key}` : key, marks, out);
      }
      return;
    }
  } else if ((Array.isArray(before) || Array.isArray(after)) && !unknownAfter) {
    const b = Array.isArray(before) ? before : [];
    const a = Array.isArray(after) ? after : [];
    const singleBlock = b.length <= 1 && a.length <= 1 && [...b, ...a].some(isObject);
    if ([...b, ...a].some((v) => isObject(v) || Array.isArray(v))) {
      for (let i = 0; i < Math.max(b.length, a.length); i++) {
        walk(b[i], a[i], [...steps, i], singleBlock ? path : `${path}[${i}]`, marks, out);
      }
      return;
    }
    // A list of plain values (tags, addresses) is one attribute: compared and shown whole.
  }
  leaf(before, after, steps, path, marks, unknownAfter, out);
}

function leaf(before: unknown, after: unknown, steps: Step[], path: string, marks: Marks, unknownAfter: boolean, out: AttributeChange[]): void {
  const absentBefore = isAbsent(before);
  const absentAfter = isAbsent(after) && !unknownAfter;
  if (absentBefore && absentAfter) return;
  if (!unknownAfter && sameValue(before, after)) return;
  const secretPath = SECRET_PATH.test(path);
  const show = (value: unknown, sensitiveTree: unknown) => (secretPath || markedAt(sensitiveTree, steps) ? SENSITIVE : value);
  out.push({
    path: path || "(value)",
    action: absentBefore ? "add" : absentAfter ? "remove" : "change",
    before: absentBefore ? null : show(before, marks.beforeSensitive),
    after: unknownAfter ? KNOWN_AFTER_APPLY : absentAfter ? null : show(after, marks.afterSensitive),
  });
}

/** True when the mark tree has `true` at `steps` or at any prefix of it (a whole subtree marked). */
function markedAt(tree: unknown, steps: readonly Step[]): boolean {
  let node = tree;
  for (let i = 0; ; i++) {
    if (node === true) return true;
    if (i === steps.length || node === null || typeof node !== "object") return false;
    node = (node as Record<Step, unknown>)[steps[i]!];
  }
}

function nodeAt(tree: unknown, steps: readonly Step[]): unknown {
  let node = tree;
  for (const step of steps) node = child(node, step);
  return node;
}

/** A replace path ("disk", 0, "size") written the way the changes write it. */
function formatPath(steps: readonly Step[], before: unknown, after: unknown): string {
  let path = "";
  let b = before;
  let a = after;
  for (const step of steps) {
    if (typeof step === "number") {
      const lists = [b, a].filter(Array.isArray) as unknown[][];
      const singleBlock = lists.every((l) => l.length <= 1) && lists.some((l) => l.some(isObject));
      if (!singleBlock) path += `[${step}]`;
    } else {
      path = path ? `${path}.${step}` : step;
    }
    b = child(b, step);
    a = child(a, step);
  }
  return path;
}

function child(value: unknown, step: Step): unknown {
  return value !== null && typeof value === "object" ? (value as Record<Step, unknown>)[step] : undefined;
}

function isStep(value: unknown): value is Step {
  return typeof value === "string" || typeof value === "number";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** null, undefined and an empty list all mean "not set" to Terraform's JSON. */
function isAbsent(value: unknown): boolean {
  return value === null || value === undefined || (Array.isArray(value) && value.length === 0);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Up to `max` one-line changes ("memory.dedicated: 2048 → 3072"), known values first. */
export function changeLines(changes: readonly AttributeChange[], max = 10): string[] {
  const known = changes.filter((c) => c.after !== KNOWN_AFTER_APPLY);
  const unknown = changes.filter((c) => c.after === KNOWN_AFTER_APPLY);
  return [...known, ...unknown].slice(0, max).map((c) => `${c.path}: ${compact(c.before)} → ${compact(c.after)}`);
}

function compact(value: unknown): string {
  if (value === null || value === undefined) return "(none)";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
