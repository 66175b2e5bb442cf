import { badRequest } from "./errors.js";

/**
 * Kubernetes label selectors (the `labelSelector` query parameter of `kubectl get -l`):
 * `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a` (does not exist),
 * joined by commas; every requirement must hold.
 */
export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

export type LabelSelector = Requirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function parseLabelSelector(text: string): LabelSelector {
  const out: LabelSelector = [];
  for (const part of splitTopLevel(text)) {
    const s = part.trim();
    if (s === "") continue;
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(s))) {
      const values = m[3]!.split(",").map((v) => v.trim());
      values.forEach((v) => checkValue(v, s));
      out.push({ key: checkKey(m[1]!, s), op: m[2] as "in" | "notin", values });
    } else if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(s))) {
      out.push({ key: checkKey(m[1]!, s), op: m[2] === "!=" ? "!=" : "=", value: checkValue(m[3]!, s) });
    } else if ((m = /^!\s*(\S+)$/.exec(s))) {
      out.push({ key: checkKey(m[1]!, s), op: "!exists" });
    } else if (KEY.test(s)) {
      out.push({ key: s, op: "exists" });
    } else {
      throw badRequest(`labelSelector: cannot parse "${s}" (use a=b, a!=b, a in (x,y), a notin (x,y), a or !a, joined by commas)`);
    }
  }
  return out;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case "=":
        return has && l[r.key] === r.value;
      case "!=":
        return !has || l[r.key] !== r.value;
      case "in":
        return has && r.values.includes(l[r.key]!);
      case "notin":
        return !has || !r.values.includes(l[r.key]!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
    return false;
  });
}

/** Splits at commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) throw badRequest(`labelSelector: unbalanced ")"`);
  }
  if (depth !== 0) throw badRequest(`labelSelector: unbalanced "("`);
  parts.push(text.slice(start));
  return parts;
}

function checkKey(key: string, requirement: string): string {
  if (!KEY.test(key)) throw badRequest(`labelSelector: "${key}" in "${requirement}" is not a valid label key`);
  return key;
}

function checkValue(value: string, requirement: string): string {
  if (!VALUE.test(value)) throw badRequest(`labelSelector: "${value}" in "${requirement}" is not a valid label value`);
  return value;
}
