// Shared bits of the views: breadcrumbs, the document title, the "last run" cell, and which VM
// the list should focus when people come back to it.

/* global document */

import { h, icon } from "../dom.js";
import { ACTION_LABELS, runStatusPill, shortId } from "../model.js";
import { href } from "../routes.js";
import { durationEl, timeEl } from "../time.js";

const APP_NAME = "Proxmox Terraform Manager";

export function breadcrumbs(items) {
  return h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h(
      "ol",
      null,
      items.map(([label, target], i) =>
        h("li", null, target ? h("a", { href: target }, i === 0 ? [icon("back", "icon crumb-back"), label] : label) : h("span", { "aria-current": "page" }, label)),
      ),
    ),
  );
}

export function setTitle(text) {
  document.title = `${text} · ${APP_NAME}`;
}

export function dash() {
  return h("span", { class: "muted" }, "—");
}

export function lastRunCell(run) {
  if (!run) return h("span", { class: "muted" }, "none yet");
  const status = run.result;
  const when = status === "running" ? durationEl(run.startedAt, undefined) : timeEl(run.finishedAt ?? run.startedAt, "ago");
  return h(
    "a",
    { class: "last-run", href: href("run", run.id), title: `Open the ${run.action} run ${shortId(run.id)} and its log` },
    h("span", { class: "last-run-line" }, h("span", { class: "run-action" }, ACTION_LABELS[run.action] ?? run.action), runStatusPill(status)),
    h("span", { class: "run-when" }, status === "running" ? ["for ", when] : when),
  );
}

let openedVmKey = "";

/** The VM (namespace/name) opened last, so the list focuses its row again on the way back. */
export const lastOpenedVm = {
  get() {
    return openedVmKey;
  },
  set(key) {
    openedVmKey = key;
  },
};
