/**
 * Why a plan was refused by `lifecycle.prevent_destroy`: which resources it would destroy or
 * replace, and the attribute paths that force it (tofu's `resource_changes[].change.replace_paths`
 * and `action_reason` in `show -json` of a plan file).
 */
import type { RunOptions, TerraformRunner } from "./runner.js";

export interface Replacement {
  /** e.g. "proxmox_virtual_environment_vm.vm". */
  address: string;
  /** tofu's actions, e.g. ["delete", "create"]. */
  actions: string[];
  /** tofu's action_reason, e.g. "replace_because_cannot_update", when it gives one. */
  reason?: string;
  /** Attribute paths joined with ".", e.g. ["vm_id"], ["clone.0.vm_id"]. */
  forcedBy: string[];
}

interface PlanJson {
  resource_changes?: Array<{ address?: string; action_reason?: string; change?: { actions?: string[]; replace_paths?: unknown[][] } }>;
}

/** The resources a `show -json` plan would delete (replacements included). Pure. */
export function replacementsInPlan(plan: unknown): Replacement[] {
  const changes = (plan as PlanJson | null)?.resource_changes ?? [];
  const out: Replacement[] = [];
  for (const rc of changes) {
    const actions = rc.change?.actions ?? [];
    if (!actions.includes("delete")) continue;
    out.push({
      address: rc.address ?? "",
      actions,
      ...(rc.action_reason ? { reason: rc.action_reason } : {}),
      forcedBy: (rc.change?.replace_paths ?? []).map((p) => p.map(String).join(".")),
    });
  }
  return out;
}

/**
 * Plans `run` (whose configJson must be the same stack without prevent_destroy: synthesize it
 * with `allowDestroy: true`) into a plan file, reads it and deletes it. Nothing is applied.
 * Rewrites the work directory's main.tf.json; the next run's prepare writes its own again.
 */
export async function explainReplacement(runner: TerraformRunner, run: RunOptions): Promise<Replacement[]> {
  await runner.prepare(run);
  const plan = await runner.plan(run);
  if (!plan.planFile) return [];
  try {
    return replacementsInPlan(await runner.showPlan(run, plan.planFile));
  } finally {
    await runner.discardPlan(plan.planFile);
  }
}
