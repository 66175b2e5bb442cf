// The view of one VM and its runs (`#/vm/<namespace>/<name>`): its state, facts and conditions
// from the VM store, and its runs, newest first, a page at a time.

/* global window */

import { adminPost, api } from "../api.js";
import { flash, h, icon } from "../dom.js";
import { ACTION_LABELS, RUN_LABELS, TERMINAL_RUN_STATES, activity, changeCounts, newerRun, readiness, readyDot, runStatusPill, shortId, stateBadge, vmKey, vmState } from "../model.js";
import { href, navigate } from "../routes.js";
import { absolute, durationEl, timeEl } from "../time.js";
import { runCache, vmStore } from "../vm-store.js";
import { breadcrumbs, dash, lastOpenedVm, lastRunCell, setTitle } from "./shared.js";

const RUNS_PAGE_SIZE = 20;

const RUN_COLUMNS = [
  {
    key: "run",
    label: "Run",
    cell: (run) => [
      h("a", { class: "run-name", href: href("run", run.id), tabindex: "-1" }, ACTION_LABELS[run.action] ?? run.action),
      h("div", { class: "sub mono" }, shortId(run.id)),
    ],
  },
  { key: "status", label: "Status", cell: (run) => [runStatusPill(run.status), run.errorKind && h("div", { class: "sub text-bad" }, run.errorKind)] },
  { key: "reason", label: "Trigger", cell: (run) => run.reason || dash() },
  { key: "attempt", label: "Attempt", cell: (run) => String(run.attempt ?? 1) },
  { key: "generation", label: "Gen", cell: (run) => String(run.generation ?? "—") },
  { key: "changes", label: "Changes", cell: (run) => changeCounts(run) },
  { key: "started", label: "Started", cell: (run) => timeEl(run.startedAt ?? run.createdAt, "ago") },
  { key: "duration", label: "Duration", cell: (run) => durationEl(run.startedAt, run.finishedAt ?? (TERMINAL_RUN_STATES.has(run.status) ? run.startedAt : undefined)) },
];

export class VmView {
  constructor(route) {
    this.kind = "vm";
    this.namespace = route.namespace;
    this.name = route.name;
    this.key = vmKey(route.namespace, route.name);
    this.runs = new Map();
    this.rows = new Map();
    this.cursor = null;
    this.runsLoaded = false;
    this.runsError = null;
    this.runQueue = null;
    this.runGeneration = 0;
  }

  sameAs(route) {
    return route.view === "vm" && route.namespace === this.namespace && route.name === this.name;
  }

  streamParams() {
    return { namespace: this.namespace, name: this.name };
  }

  mount(main) {
    lastOpenedVm.set(this.key);
    setTitle(`${this.name} · ${this.namespace}`);
    this.head = h("div", { class: "detail-head" });
    this.facts = h("dl", { class: "facts" });
    this.conditions = h("div", { class: "conditions" });
    this.approval = h("section", { class: "card approval-card", id: "pending-plan", "aria-labelledby": "approval-title", hidden: true });
    this.runsBody = h("tbody");
    this.runsBody.addEventListener("click", (event) => {
      const row = event.target.closest("tr.run-row");
      if (row) {
        event.preventDefault();
        navigate(href("run", row.dataset.id));
      }
    });
    this.runsBody.addEventListener("keydown", (event) => {
      if (event.target instanceof window.HTMLTableRowElement && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        navigate(href("run", event.target.dataset.id));
      }
    });
    this.runsFoot = h("div", { class: "runs-foot" });
    this.runsCount = h("span", { class: "section-meta" });
    main.replaceChildren(
      breadcrumbs([
        ["Virtual machines", "#/"],
        [this.namespace, `#/?ns=${encodeURIComponent(this.namespace)}`],
        [this.name, null],
      ]),
      this.head,
      this.approval,
      h("div", { class: "detail-grid" }, h("section", { class: "card", "aria-label": "Details" }, this.facts), h("section", { class: "card", "aria-labelledby": "conditions-title" }, h("h2", { id: "conditions-title", class: "card-title" }, "Conditions"), this.conditions)),
      h(
        "section",
        { class: "card runs-card", "aria-labelledby": "runs-title" },
        h("div", { class: "card-head" }, h("h2", { id: "runs-title", class: "card-title" }, "Runs"), this.runsCount),
        h(
          "table",
          { class: "run-table", id: "run-table" },
          h("caption", { class: "sr-only" }, `Terraform runs of ${this.name}, newest first; select one to see its log`),
          h("thead", null, h("tr", null, RUN_COLUMNS.map((c) => h("th", { scope: "col", class: `c-${c.key}` }, c.label)))),
          this.runsBody,
        ),
        this.runsFoot,
      ),
    );
    this.unsubscribe = vmStore.subscribe((change) => {
      if (change.kind === "snapshot" || change.key === this.key) this.renderVm(change.kind !== "initial");
    });
    this.renderVm(false);
    this.renderRuns();
    main.querySelector("h1")?.focus({ preventScroll: true });
    void vmStore.load();
    void this.loadRuns();
  }

  unmount() {
    this.unsubscribe?.();
  }

  resync() {
    void vmStore.load();
    void this.loadRuns();
  }

  onEvent(type, data) {
    if (type !== "run" || data?.namespace !== this.namespace || data?.name !== this.name) return;
    if (this.runQueue) this.runQueue.push(data);
    else this.upsertRun(data, true);
  }

  renderVm(animate) {
    const vm = vmStore.get(this.namespace, this.name);
    const sig = JSON.stringify(vm ?? null) + vmStore.loaded;
    if (sig === this.vmSig) return;
    const changed = this.vmSig !== undefined && animate;
    this.vmSig = sig;
    if (!vm) {
      const gone = vmStore.loaded;
      this.head.replaceChildren(
        h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, this.name), gone && stateBadge("Not found", "neutral")),
        h("p", { class: "subtitle" }, gone ? `No ProxmoxVM ${this.namespace}/${this.name}: it was deleted, or never existed. Its past runs stay below.` : "Loading…"),
      );
      this.facts.replaceChildren();
      this.conditions.replaceChildren(h("p", { class: "muted" }, gone ? "—" : "Loading…"));
      return;
    }
    const state = vmState(vm);
    const ready = readiness(vm);
    const doing = activity(vm);
    this.head.replaceChildren(
      h(
        "div",
        { class: "title-row" },
        h("h1", { tabindex: "-1" }, vm.name),
        stateBadge(state.label, state.tone, "badge-lg"),
        h("span", { class: "ready-chip", title: ready.title }, readyDot(ready.tone, ready.label)),
        doing && h("span", { class: ["activity", `text-${doing.tone}`], title: doing.title }, doing.text),
      ),
      h("p", { class: "subtitle" }, ready.detail || ""),
    );
    this.renderApproval(vm);
    const generationText = vm.status?.observedGeneration === vm.generation ? `${vm.generation} (up to date)` : `${vm.generation} (operator has seen ${vm.status?.observedGeneration ?? "none"})`;
    const ips = vm.status?.ipAddresses ?? [];
    const fact = (label, value, key) => h("div", { class: ["fact", `fact-${key}`] }, h("dt", null, label), h("dd", { dataset: { fact: key } }, value));
    this.facts.replaceChildren(
      fact("Namespace", vm.namespace, "namespace"),
      fact("Node", vm.status?.node || vm.nodeName || dash(), "node"),
      fact("VM ID", vm.status?.vmId != null ? h("span", { class: "mono" }, String(vm.status.vmId)) : dash(), "vmid"),
      fact("IP addresses", ips.length ? h("ul", { class: "ips" }, ips.map((ip) => h("li", { class: "mono" }, ip))) : dash(), "ips"),
      fact("Generation", generationText, "generation"),
      fact("Created", vm.creationTimestamp ? [timeEl(vm.creationTimestamp, "ago"), h("span", { class: "sub-inline" }, absolute(vm.creationTimestamp))] : dash(), "created"),
      fact("Last run", lastRunCell(vm.status?.lastRun), "last-run"),
    );
    const order = ["Ready", "Reconciling", "Stalled", "Synced"];
    const rank = (c) => (order.includes(c.type) ? order.indexOf(c.type) : order.length);
    const conditions = [...(vm.status?.conditions ?? [])].sort((a, b) => rank(a) - rank(b) || a.type.localeCompare(b.type));
    this.conditions.replaceChildren(
      conditions.length
        ? h(
            "ul",
            { class: "condition-list" },
            conditions.map((c) =>
              h(
                "li",
                { class: "condition", dataset: { type: c.type, status: c.status } },
                h(
                  "div",
                  { class: "condition-head" },
                  readyDot(conditionTone(c), c.type),
                  h("span", { class: "condition-status" }, c.status),
                  c.reason && h("span", { class: "condition-reason" }, c.reason),
                  h("span", { class: "condition-time" }, timeEl(c.lastTransitionTime, "ago")),
                ),
                c.message && h("p", { class: "condition-message" }, c.message),
              ),
            ),
          )
        : h("p", { class: "muted" }, "The operator has not written a condition yet."),
    );
    if (changed) {
      flash(this.head);
      flash(this.facts);
    }
  }

  /** A plan that waits: its changes, the exact approve command, and buttons that ask for the admin token. */
  renderApproval(vm) {
    const pending = vm.status?.pendingPlan;
    this.approval.hidden = !pending;
    if (!pending) return this.approval.replaceChildren();
    const command = `kubectl annotate pvm ${vm.name} -n ${vm.namespace} proxmox.terraform-manager.dev/approve=${pending.approveWith} --overwrite`;
    this.approvalNote = h("p", { class: "approval-note", role: "status" });
    const act = (what) => async () => {
      const token = window.prompt(`The sidecar's admin token, to ${what} plan ${shortId(pending.runId)}:`);
      if (!token) return;
      try {
        const answer = await adminPost(`namespaces/${encodeURIComponent(vm.namespace)}/vms/${encodeURIComponent(vm.name)}/${what}`, { runId: pending.runId }, token);
        this.approvalNote.textContent = answer.message;
      } catch (error) {
        this.approvalNote.textContent = `Not done: ${error.message}`;
      }
    };
    this.approval.replaceChildren(
      h("h2", { id: "approval-title", class: "card-title" }, "A plan waits for approval"),
      h(
        "div",
        { class: "approval-body" },
        h("p", null, pending.summary, " · ", h("a", { href: href("run", pending.runId) }, `plan run ${shortId(pending.runId)}`), " (the whole diff)"),
        h(
          "ul",
          { class: "approval-changes" },
          pending.changes.map((line) => h("li", { class: "mono" }, line)),
        ),
        h("p", null, "Approving applies exactly this plan:"),
        h("pre", { class: "mono approval-command" }, command),
        h(
          "div",
          { class: "approval-actions" },
          h("button", { type: "button", class: "button approve", onclick: act("approve") }, "Approve…"),
          h("button", { type: "button", class: "button discard", onclick: act("discard") }, "Discard…"),
        ),
        this.approvalNote,
      ),
    );
  }

  async loadRuns() {
    const generation = ++this.runGeneration;
    this.runQueue ??= [];
    try {
      const body = await api("runs", { namespace: this.namespace, name: this.name, limit: RUNS_PAGE_SIZE });
      if (generation !== this.runGeneration) return;
      const first = !this.runsLoaded;
      for (const run of body.items ?? []) this.upsertRun(run, !first, false);
      if (first) this.cursor = body.nextCursor ?? null;
      this.runsLoaded = true;
      this.runsError = null;
    } catch (error) {
      if (generation !== this.runGeneration) return;
      this.runsError = error;
    }
    const queued = this.runQueue ?? [];
    this.runQueue = null;
    for (const run of queued) this.upsertRun(run, true, false);
    this.renderRuns();
  }

  async loadMore() {
    if (!this.cursor || this.loadingMore) return;
    this.loadingMore = true;
    this.renderFoot();
    try {
      const body = await api("runs", { namespace: this.namespace, name: this.name, limit: RUNS_PAGE_SIZE, cursor: this.cursor });
      for (const run of body.items ?? []) this.upsertRun(run, false, false);
      this.cursor = body.nextCursor ?? null;
      this.moreError = null;
    } catch (error) {
      this.moreError = error;
    } finally {
      this.loadingMore = false;
    }
    this.renderRuns();
  }

  upsertRun(incoming, animate, render = true) {
    const current = this.runs.get(incoming.id);
    const run = newerRun(current, incoming);
    if (current && JSON.stringify(current) === JSON.stringify(run)) return;
    this.runs.set(run.id, run);
    runCache.set(run.id, run);
    let row = this.rows.get(run.id);
    if (!row) {
      row = h("tr", { class: "run-row", tabindex: "0", dataset: { id: run.id } });
      this.rows.set(run.id, row);
    }
    row.dataset.status = run.status;
    row.setAttribute("aria-label", `${ACTION_LABELS[run.action] ?? run.action} run ${shortId(run.id)}, ${RUN_LABELS[run.status] ?? run.status}`);
    row.replaceChildren(...RUN_COLUMNS.map((c) => h("td", { class: `c-${c.key}`, dataset: { label: c.label } }, c.cell(run))));
    if (animate) row.pendingFlash = true;
    if (render) this.renderRuns();
  }

  renderRuns() {
    const ordered = [...this.runs.values()].sort((a, b) => (b.createdAt ?? "").localeCompare(a.createdAt ?? "") || b.id.localeCompare(a.id));
    ordered.forEach((run, index) => {
      const row = this.rows.get(run.id);
      if (this.runsBody.children[index] !== row) this.runsBody.insertBefore(row, this.runsBody.children[index] ?? null);
      if (row.pendingFlash) {
        row.pendingFlash = false;
        flash(row);
      }
    });
    this.runsCount.textContent = this.runsLoaded ? `${ordered.length}${this.cursor ? "+" : ""} ${ordered.length === 1 && !this.cursor ? "run" : "runs"}, newest first` : "";
    this.renderFoot();
  }

  renderFoot() {
    let content = [];
    if (!this.runsLoaded && this.runsError) {
      content = [h("p", { class: "text-bad" }, `Could not load the runs: ${this.runsError.message}`), h("button", { class: "button", type: "button", onclick: () => void this.loadRuns() }, icon("refresh"), "Try again")];
    } else if (!this.runsLoaded) {
      content = [h("p", { class: "muted" }, h("span", { class: "spinner" }), " Loading runs…")];
    } else if (this.runs.size === 0) {
      content = [h("p", { class: "muted" }, "No runs yet. The first one starts as soon as the operator picks the VM up.")];
    } else if (this.cursor) {
      content = [
        h(
          "button",
          { class: "button", type: "button", id: "load-more", disabled: this.loadingMore, onclick: () => void this.loadMore() },
          this.loadingMore ? [h("span", { class: "spinner" }), "Loading…"] : "Load older runs",
        ),
        this.moreError && h("span", { class: "text-bad" }, this.moreError.message),
      ];
    }
    content = content.filter(Boolean);
    this.runsFoot.replaceChildren(...content);
    this.runsFoot.hidden = content.length === 0;
  }
}

function conditionTone(c) {
  const good = c.type === "Reconciling" || c.type === "Stalled" ? "False" : "True";
  if (c.status === "Unknown") return "wait";
  if (c.type === "Reconciling" && c.status === "True") return "progress";
  return c.status === good ? "ok" : c.type === "Reconciling" ? "neutral" : "bad";
}
