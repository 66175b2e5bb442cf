// A run's changes (GET /api/v1/runs/{id}/plan): per resource the attribute path, before and
// after, coloured by add / change / remove, a replacement called out with what forces it; and the
// desired change (the spec's stack against the last applied one) when no plan was saved.

import { h } from "../dom.js";

const ACTION_WORDS = { add: "added", change: "changed", remove: "removed" };

function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function changeTable(changes, caption) {
  return h(
    "table",
    { class: "diff-table" },
    h("caption", { class: "sr-only" }, caption),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Attribute"), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After"))),
    h(
      "tbody",
      null,
      changes.map((c) =>
        h(
          "tr",
          { class: ["diff-row", `diff-${c.action}`], dataset: { path: c.path, action: c.action }, title: `${c.path} ${ACTION_WORDS[c.action] ?? c.action}` },
          h("td", { class: "mono diff-path" }, h("span", { class: "diff-sign", "aria-hidden": "true" }, c.action === "add" ? "+" : c.action === "remove" ? "−" : "~"), c.path),
          h("td", { class: "mono diff-before" }, shown(c.before)),
          h("td", { class: "mono diff-after" }, shown(c.after)),
        ),
      ),
    ),
  );
}

/** The diff card's content, or null when the run recorded neither change. */
export function planDiff(plan) {
  if (!plan || (!plan.planned && !plan.desired)) return null;
  const parts = [];
  if (plan.planRunId) parts.push(h("p", { class: "diff-note" }, "Applied the approved plan of run ", h("a", { class: "mono", href: `#/run/${plan.planRunId}` }, plan.planRunId.slice(0, 8)), " as it was (no new plan)."));
  if (plan.planned) {
    if (plan.planned.resources.length === 0) parts.push(h("p", { class: "muted" }, "The plan changes nothing."));
    for (const r of plan.planned.resources) {
      parts.push(
        h(
          "div",
          { class: ["diff-resource", r.replace && "diff-replaced"], dataset: { address: r.address } },
          h(
            "div",
            { class: "diff-resource-head" },
            h("span", { class: "mono" }, r.address),
            h("span", { class: "diff-actions" }, r.actions.join(", ")),
            r.replace && h("strong", { class: "diff-replace-badge", role: "note" }, `REPLACED: destroyed and re-created${r.replacedBy?.length ? `, forced by ${r.replacedBy.join(", ")}` : ""}`),
          ),
          changeTable(r.changes, `Attributes ${r.address} changes`),
        ),
      );
    }
  } else if (plan.desired) {
    parts.push(
      h("p", { class: "diff-note" }, "Desired change: the spec's stack against the last applied one (no plan was saved for this run)."),
      plan.desired.changes.length ? changeTable(plan.desired.changes, "Desired changes") : h("p", { class: "muted" }, "The stack is the one last applied."),
    );
  }
  return parts;
}
