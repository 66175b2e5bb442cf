// What the data means: a VM's state, readiness and activity, a run's status, and the badges,
// pills and dots that show them.

import { h, icon } from "./dom.js";

export const TERMINAL_RUN_STATES = new Set(["succeeded", "no_changes", "failed"]);

export const vmKey = (namespace, name) => `${namespace}/${name}`;
export const condition = (vm, type) => vm?.status?.conditions?.find((c) => c.type === type);

const STATE_TONES = {
  Running: "ok",
  Provisioning: "progress",
  Pending: "neutral",
  Stopped: "neutral",
  Failed: "bad",
  Deleting: "warn",
};

export function vmState(vm) {
  const state = vm.status?.state || "Pending";
  return { label: state, tone: STATE_TONES[state] ?? "neutral" };
}

/** Ready as people read it: a tone for the dot, a word, and the condition's message. */
export function readiness(vm) {
  const c = condition(vm, "Ready");
  if (!c) return { tone: "neutral", label: "Unknown", detail: "waiting for the operator", title: "No Ready condition yet" };
  const title = [c.reason, c.message].filter(Boolean).join(": ");
  if (c.status === "True") return { tone: "ok", label: "Ready", detail: c.message || c.reason, title };
  if (c.status === "False") return { tone: "bad", label: "Not ready", detail: c.message || c.reason, title };
  return { tone: "wait", label: c.reason || "Unknown", detail: c.message, title };
}

/** What the operator is doing right now (Reconciling=True), or why it stopped trying (Stalled). */
export function activity(vm) {
  const stalled = condition(vm, "Stalled");
  if (stalled?.status === "True") return { tone: "bad", text: `Stalled: ${stalled.reason}`, title: stalled.message };
  const reconciling = condition(vm, "Reconciling");
  if (reconciling?.status === "True") return { tone: "progress", text: `${reconciling.reason}…`, title: reconciling.message };
  if (reconciling?.reason === "AwaitingApproval") return { tone: "wait", text: "Awaiting approval", title: reconciling.message };
  return undefined;
}

const RUN_TONES = { running: "progress", queued: "neutral", succeeded: "ok", no_changes: "neutral", failed: "bad" };
export const RUN_LABELS = { running: "Running", queued: "Queued", succeeded: "Succeeded", no_changes: "No changes", failed: "Failed" };
export const ACTION_LABELS = { apply: "Apply", destroy: "Destroy", plan: "Plan", forget: "Forget" };

export function stateBadge(label, tone, extraClass) {
  return h("span", { class: ["badge", `tone-${tone}`, extraClass] }, h("span", { class: "badge-dot", "aria-hidden": "true" }), label);
}

export function runStatusPill(status) {
  const tone = RUN_TONES[status] ?? "neutral";
  const mark =
    status === "running"
      ? h("span", { class: "spinner", "aria-hidden": "true" })
      : status === "succeeded"
        ? icon("check")
        : status === "failed"
          ? icon("cross")
          : icon("minus");
  return h("span", { class: ["pill", `tone-${tone}`], dataset: { status } }, mark, RUN_LABELS[status] ?? status);
}

export function readyDot(tone, label) {
  return h("span", { class: ["ready", `tone-${tone}`] }, h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "ready-label" }, label));
}

export function changeCounts(run) {
  if (run.addCount == null && run.changeCount == null && run.destroyCount == null) return h("span", { class: "muted" }, "—");
  return h(
    "span",
    { class: "counts", title: `${run.addCount ?? 0} to add, ${run.changeCount ?? 0} to change, ${run.destroyCount ?? 0} to destroy` },
    h("span", { class: "count-add" }, `+${run.addCount ?? 0}`),
    h("span", { class: "count-change" }, `~${run.changeCount ?? 0}`),
    h("span", { class: "count-destroy" }, `−${run.destroyCount ?? 0}`),
  );
}

/** A later event about the same run must not turn a finished run back into a running one. */
export function newerRun(current, incoming) {
  if (!current) return incoming;
  if (TERMINAL_RUN_STATES.has(current.status) && !TERMINAL_RUN_STATES.has(incoming.status)) return current;
  return { ...current, ...incoming };
}

export function shortId(id) {
  return String(id ?? "").slice(0, 8);
}
