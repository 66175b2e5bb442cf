import type { Logger } from "pino";
import type { ProxmoxApiClient } from "../proxmox/api-client.js";
import type { PlanStore } from "../store/plan-store.js";
import { changeLines, desiredChange, TerraformError, type PlannedChange } from "../terraform/index.js";
import type { PlanCounts } from "../vm/status.js";
import { VM_ADDRESS } from "./tofu-session.js";

/**
 * The pieces of a run's diffs and of approving a kept plan: the desired change recorded with the
 * run, the planned change's status lines, who approved, and whether a kept plan still fits.
 */

const VM_RESOURCE = VM_ADDRESS.split(".") as [string, string];

/** Records the run's stack and its desired change (against the stack last in effect). A store that fails costs the diff, not the run. */
export async function recordDesired(plans: PlanStore, runId: string, uid: string, stackJson: string, log: Logger): Promise<void> {
  try {
    const previous = await plans.stackInEffect(uid);
    const desired = desiredChange(previous === undefined ? undefined : JSON.parse(previous), JSON.parse(stackJson), VM_RESOURCE);
    await plans.recordStack(runId, uid, stackJson, desired);
  } catch (error) {
    log.warn({ err: error, runId }, "could not record the run's desired change");
  }
}

/** status.pendingPlan for a plan that waits. */
export function pendingPlanStatus(runId: string, specHash: string, approveWith: string, counts: PlanCounts, planned: PlannedChange | undefined) {
  const changes = (planned?.resources ?? []).flatMap((r) => {
    const lines = changeLines(r.changes, 10);
    return r.replace ? [`${r.address} is REPLACED (forced by ${(r.replacedBy ?? []).join(", ") || "tofu"})`, ...lines] : lines;
  });
  return {
    runId,
    specHash,
    approveWith,
    summary: `${counts.add} to add, ${counts.change} to change, ${counts.remove} to destroy`,
    changes: changes.slice(0, 10).map((l) => (l.length > 200 ? `${l.slice(0, 197)}...` : l)),
  };
}


/** Proxmox's digest of the VM's config file now; undefined when it cannot be read (no VM yet, Proxmox not answering). */
export async function configDigest(proxmox: ProxmoxApiClient | undefined, node: string, vmId: number | undefined): Promise<string | undefined> {
  if (!proxmox || vmId === undefined) return undefined;
  try {
    return (await proxmox.vmConfig(node, vmId))?.digest;
  } catch {
    return undefined;
  }
}

/** tofu refused a saved plan because state moved since it was made. */
export function isStalePlan(error: unknown): boolean {
  if (!(error instanceof TerraformError)) return false;
  const text = [error.message, ...error.diagnostics.map((d) => `${d.summary} ${d.detail}`), ...error.stderrTail].join("\n");
  return /saved plan is stale/i.test(text);
}
