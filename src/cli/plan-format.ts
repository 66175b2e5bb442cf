import { KNOWN_AFTER_APPLY, SENSITIVE, type AttributeChange, type PlannedResource } from "../terraform/plan-diff.js";

export type { AttributeChange, PlannedResource };

/**
 * A run's plan as GET /api/v1/runs/{id}/plan answers it (src/http/openapi.ts): the desired change
 * (synthesized stack vs the last applied one) and tofu's plan, reduced by src/terraform/plan-diff.ts.
 */
export interface RunPlan {
  runId: string;
  specHash: string;
  desired: { changes: AttributeChange[] } | null;
  planned: { resources: PlannedResource[] } | null;
  /** For a run that applied an approved plan: the run that made that plan. */
  planRunId?: string | null;
}

/** Placeholders the API puts where a value must not or cannot be shown: printed as they are. */
const PLACEHOLDERS = new Set([SENSITIVE, KNOWN_AFTER_APPLY]);

export function formatValue(value: unknown): string {
  if (typeof value === "string") return PLACEHOLDERS.has(value) ? value : JSON.stringify(value);
  if (value === undefined) return "null";
  return JSON.stringify(value);
}

/** "~ memory.dedicated: 2048 → 3072", "+ disk[1].size: 8", "- tags[0]: \"old\"". */
export function formatChange(c: AttributeChange): string {
  if (c.action === "add") return `+ ${c.path}: ${formatValue(c.after)}`;
  if (c.action === "remove") return `- ${c.path}: ${formatValue(c.before)}`;
  return `~ ${c.path}: ${formatValue(c.before)} → ${formatValue(c.after)}`;
}

/** tofu's own counting: a replacement is one to add and one to destroy. */
export function planSummary(resources: readonly PlannedResource[]): string {
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const r of resources) {
    if (r.actions.includes("create")) add++;
    if (r.actions.includes("delete")) destroy++;
    if (r.actions.includes("update")) change++;
  }
  return `${add} to add, ${change} to change, ${destroy} to destroy`;
}

function resourceLine(r: PlannedResource): string {
  if (r.replace || (r.actions.includes("create") && r.actions.includes("delete"))) {
    const forcedBy = r.replacedBy && r.replacedBy.length > 0 ? `, forced by ${r.replacedBy.join(", ")}` : "";
    return `-/+ ${r.address} (replace${forcedBy})`;
  }
  if (r.actions.includes("create")) return `+ ${r.address} (create)`;
  if (r.actions.includes("delete")) return `- ${r.address} (destroy)`;
  if (r.actions.includes("update")) return `~ ${r.address} (update)`;
  return `  ${r.address} (${r.actions.join(", ") || "no-op"})`;
}

/** The plan as text: tofu's resources with their attribute changes, then the desired change. */
export function formatPlan(plan: RunPlan): string {
  const lines: string[] = [];
  if (plan.planRunId && plan.planRunId !== plan.runId) lines.push(`Applied the approved plan of run ${plan.planRunId}`);
  if (plan.planned) {
    const changing = plan.planned.resources.filter((r) => !r.actions.every((a) => a === "no-op" || a === "read"));
    lines.push(`Planned by tofu: ${planSummary(changing)}`);
    for (const r of changing) {
      lines.push(`  ${resourceLine(r)}`);
      for (const c of r.changes) lines.push(`      ${formatChange(c)}`);
    }
  } else {
    lines.push("Planned by tofu: not recorded for this run");
  }
  if (plan.desired) {
    lines.push(plan.desired.changes.length > 0 ? "Desired change (this manifest's stack vs the last applied one):" : "Desired change: none (the stack is the one last applied)");
    for (const c of plan.desired.changes) lines.push(`  ${formatChange(c)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A run has a plan worth showing once either half was recorded. */
export const hasPlan = (plan: RunPlan): boolean => plan.planned !== null || plan.desired !== null;
