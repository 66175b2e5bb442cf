import type { Condition, ConditionType, Reason } from "../api/conditions.js";
import type { StatusCondition } from "../api/status.js";

export interface ConditionUpdate {
  type: ConditionType;
  status: Condition["status"];
  reason: Reason;
  message: string;
  observedGeneration?: number;
}

/**
 * Returns conditions with `update` applied. lastTransitionTime changes only when the status
 * flips, as metav1.Condition requires; `now` is injectable for tests.
 */
export function setCondition(conditions: readonly StatusCondition[] | undefined, update: ConditionUpdate, now = new Date()): StatusCondition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: truncate(update.message, 32_000),
    lastTransitionTime: previous && previous.status === update.status ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    ...(update.observedGeneration !== undefined ? { observedGeneration: update.observedGeneration } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: readonly StatusCondition[] | undefined, type: ConditionType): StatusCondition | undefined {
  return conditions?.find((c) => c.type === type);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
