// The view of one run and its live log (`#/run/<id>`): the run's facts, and its Terraform log
// merged from the history and the stream, each line once and in order.

/* global document, requestAnimationFrame, setTimeout, clearTimeout */

import { api, findRun, runPlan } from "../api.js";
import { flash, h, icon } from "../dom.js";
import { ACTION_LABELS, TERMINAL_RUN_STATES, changeCounts, newerRun, runStatusPill, shortId } from "../model.js";
import { href } from "../routes.js";
import { absolute, clock, durationEl, timeEl } from "../time.js";
import { runCache } from "../vm-store.js";
import { planDiff } from "./plan-diff.js";
import { breadcrumbs, dash, setTitle } from "./shared.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class RunView {
  constructor(route) {
    this.kind = "run";
    this.id = route.id;
    this.run = runCache.get(route.id) ?? null;
    this.lastSeq = 0;
    this.pending = new Map();
    this.toRender = [];
    this.lineCount = 0;
    this.errorCount = 0;
    this.following = true;
    this.unseen = 0;
    this.disposed = false;
    this.catching = null;
  }

  sameAs(route) {
    return route.view === "run" && route.id === this.id;
  }

  streamParams() {
    // The sidecar refuses a `run` filter that is not a run id; such a page shows "no run" anyway.
    return UUID.test(this.id) ? { run: this.id } : {};
  }

  mount(main) {
    setTitle(`Run ${shortId(this.id)}`);
    this.crumbs = h("div");
    this.head = h("div", { class: "detail-head" });
    this.facts = h("dl", { class: "facts facts-row" });
    this.errorBox = h("div", { class: "error-box", role: "note", hidden: true });
    this.diffBody = h("div", { class: "diff-body" });
    this.diffCard = h("section", { class: "card diff-card", id: "run-diff", "aria-labelledby": "diff-title", hidden: true }, h("h2", { id: "diff-title", class: "card-title" }, "Changes"), this.diffBody);
    this.lines = h("div", { class: "log-lines" });
    this.tail = h("div", { class: "log-tail", "aria-hidden": "true" }, h("span", { class: "caret" }), "waiting for output");
    this.log = h("div", { class: "log", id: "run-log", tabindex: "0", role: "log", "aria-live": "off", "aria-label": "Terraform log" }, this.lines, this.tail);
    this.log.addEventListener("scroll", () => this.scrolled(), { passive: true });
    this.jump = h("button", { class: "jump", type: "button", hidden: true, onclick: () => this.jumpToLive() }, icon("arrowDown"), h("span", { class: "jump-text" }, "Jump to live"));
    this.lineInfo = h("span", { class: "log-meta" });
    this.followInfo = h("span", { class: "follow", dataset: { following: "true" } });
    this.wrap = h("button", { class: "toggle", type: "button", "aria-pressed": "true", title: "Wrap long lines", onclick: () => this.toggleWrap() }, icon("wrap"), "Wrap");
    main.replaceChildren(
      this.crumbs,
      this.head,
      h("section", { class: "card facts-card", "aria-label": "Run details" }, this.facts, this.errorBox),
      this.diffCard,
      h(
        "section",
        { class: "card log-card", "aria-labelledby": "log-title" },
        h("div", { class: "log-head" }, h("h2", { id: "log-title", class: "card-title" }, "Terraform log"), this.lineInfo, h("span", { class: "spacer" }), this.followInfo, this.wrap),
        h("div", { class: "log-frame" }, this.log, this.jump),
      ),
    );
    this.renderRun();
    this.renderLogMeta();
    main.querySelector("h1")?.focus({ preventScroll: true });
    void this.loadRun();
    void this.loadDiff();
    void this.catchUp();
  }

  unmount() {
    this.disposed = true;
    clearTimeout(this.refreshTimer);
  }

  resync() {
    void this.loadDiff();
    void this.loadRun();
    void this.catchUp();
  }

  onEvent(type, data) {
    if (type === "run" && data?.id === this.id) {
      this.run = newerRun(this.run, data);
      runCache.set(this.id, this.run);
      this.renderRun(true);
      // The planned change is recorded once the plan is saved: a finished run has it.
      if (TERMINAL_RUN_STATES.has(data.status)) void this.loadDiff();
    } else if (type === "log" && data?.runId === this.id) {
      this.accept([data]);
      // The worker's own notes ("applied: …", "run failed …") come right before the run's
      // finish: read the run again, in case its `run` event is not part of this stream.
      if (data.type === "run" && this.run?.status === "running") {
        clearTimeout(this.refreshTimer);
        this.refreshTimer = setTimeout(() => void this.loadRun(), 1500);
      }
    }
  }

  async loadDiff() {
    if (!UUID.test(this.id)) return;
    try {
      const plan = await runPlan(this.id);
      if (this.disposed) return;
      const content = planDiff(plan);
      this.diffCard.hidden = !content;
      this.diffBody.replaceChildren(...(content ?? []));
    } catch {
      // The log and the facts still show; the diff comes with the next resync.
    }
  }

  async loadRun() {
    try {
      const run = await findRun(this.id);
      if (this.disposed) return;
      this.run = run ? newerRun(this.run, run) : this.run;
      this.notFound = !run && !this.run;
      if (this.run) runCache.set(this.id, this.run);
      this.loadError = null;
    } catch (error) {
      this.loadError = error;
    }
    this.renderRun();
  }

  renderRun(animate = false) {
    const run = this.run;
    const sig = JSON.stringify([run, this.notFound, this.loadError?.message]);
    if (sig === this.runSig) return;
    const changed = this.runSig !== undefined && animate;
    this.runSig = sig;
    this.crumbs.replaceChildren(
      breadcrumbs([
        ["Virtual machines", "#/"],
        ...(run
          ? [
              [run.namespace, `#/?ns=${encodeURIComponent(run.namespace)}`],
              [run.name, href("vm", run.namespace, run.name)],
            ]
          : []),
        [`Run ${shortId(this.id)}`, null],
      ]),
    );
    if (!run) {
      this.head.replaceChildren(
        h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, `Run ${shortId(this.id)}`)),
        h("p", { class: "subtitle" }, this.loadError ? `Could not load the run: ${this.loadError.message}` : this.notFound ? "No run with this id. Its log, if any, is below." : "Loading…"),
      );
      this.facts.replaceChildren();
      this.errorBox.hidden = true;
      this.tail.hidden = true;
      return;
    }
    setTitle(`${ACTION_LABELS[run.action] ?? run.action} run · ${run.name}`);
    this.head.replaceChildren(
      h(
        "div",
        { class: "title-row" },
        h("h1", { tabindex: "-1" }, `${ACTION_LABELS[run.action] ?? run.action} run`),
        h("span", { class: "run-status-lg", id: "run-status" }, runStatusPill(run.status)),
      ),
      h(
        "p",
        { class: "subtitle" },
        h("a", { href: href("vm", run.namespace, run.name) }, `${run.namespace}/${run.name}`),
        run.reason ? ` · triggered by ${run.reason}` : "",
        ` · attempt ${run.attempt ?? 1} · generation ${run.generation ?? "?"}`,
      ),
    );
    const fact = (label, value, key) => h("div", { class: "fact" }, h("dt", null, label), h("dd", { dataset: { fact: key } }, value));
    const end = run.finishedAt ?? (TERMINAL_RUN_STATES.has(run.status) ? run.startedAt : undefined);
    this.facts.replaceChildren(
      fact("Started", run.startedAt ? [h("span", null, clock(run.startedAt).slice(0, 8)), " ", h("span", { class: "muted" }, "(", timeEl(run.startedAt, "ago"), ")")] : dash(), "started"),
      fact("Duration", durationEl(run.startedAt ?? run.createdAt, end), "duration"),
      fact("Changes", changeCounts(run), "changes"),
      fact("Run ID", h("span", { class: "mono selectable" }, run.id), "id"),
    );
    if (run.error) {
      this.errorBox.hidden = false;
      this.errorBox.replaceChildren(h("strong", null, run.errorKind ? `Failed (${run.errorKind})` : "Failed"), h("p", null, run.error));
    } else {
      this.errorBox.hidden = true;
    }
    this.tail.hidden = run.status !== "running";
    this.renderLogMeta();
    if (changed) flash(this.head);
  }

  // Log lines arrive from the history (GET .../events?after=) and from the stream. Sequence
  // numbers put them in order and drop duplicates; a gap is filled from the history.
  accept(lines) {
    for (const line of lines) {
      if (typeof line?.seq === "number" && line.seq > this.lastSeq) this.pending.set(line.seq, line);
    }
    this.drain();
    if (this.pending.size > 0) void this.catchUp();
  }

  drain() {
    while (this.pending.has(this.lastSeq + 1)) {
      const line = this.pending.get(this.lastSeq + 1);
      this.pending.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      this.enqueue(line);
    }
  }

  catchUp() {
    if (this.catching) {
      this.catchAgain = true;
      return this.catching;
    }
    this.catching = (async () => {
      try {
        do {
          this.catchAgain = false;
          for (let page = 0; page < 200 && !this.disposed; page++) {
            const body = await api(`runs/${encodeURIComponent(this.id)}/events`, { after: this.lastSeq });
            const items = body.items ?? [];
            for (const line of items) if (line.seq > this.lastSeq) this.pending.set(line.seq, line);
            const before = this.lastSeq;
            this.drain();
            if (items.length === 0 || this.lastSeq === before) break;
          }
        } while (this.catchAgain && !this.disposed);
        // Lines the history does not have (yet) are shown rather than held back forever.
        if (this.pending.size > 0) {
          this.lastSeq = Math.min(...this.pending.keys()) - 1;
          this.drain();
        }
        this.logError = null;
      } catch (error) {
        this.logError = error;
      } finally {
        this.catching = null;
        this.historyLoaded = true;
        this.renderLogMeta();
      }
    })();
    return this.catching;
  }

  enqueue(line) {
    this.toRender.push(line);
    if (this.toRender.length === 1) requestAnimationFrame(() => this.flushLines());
  }

  flushLines() {
    const batch = this.toRender;
    this.toRender = [];
    if (batch.length === 0 || this.disposed) return;
    const fragment = document.createDocumentFragment();
    for (const line of batch) fragment.append(logLine(line));
    this.lineCount += batch.length;
    this.errorCount += batch.filter((l) => l.level === "error").length;
    this.lines.append(fragment);
    if (this.following) this.scrollToEnd();
    else this.unseen += batch.length;
    this.renderLogMeta();
  }

  scrollToEnd() {
    this.autoScrolling = true;
    this.log.scrollTop = this.log.scrollHeight;
    requestAnimationFrame(() => {
      this.autoScrolling = false;
    });
  }

  scrolled() {
    const atEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 24;
    if (atEnd) {
      this.following = true;
      this.unseen = 0;
    } else if (!this.autoScrolling) {
      this.following = false;
    }
    this.renderLogMeta();
  }

  jumpToLive() {
    this.following = true;
    this.unseen = 0;
    this.scrollToEnd();
    this.renderLogMeta();
    this.log.focus({ preventScroll: true });
  }

  toggleWrap() {
    const wrap = this.wrap.getAttribute("aria-pressed") !== "true";
    this.wrap.setAttribute("aria-pressed", String(wrap));
    this.log.classList.toggle("nowrap", !wrap);
    if (this.following) this.scrollToEnd();
  }

  renderLogMeta() {
    if (!this.lineInfo) return;
    const parts = [`${this.lineCount} ${this.lineCount === 1 ? "line" : "lines"}`];
    if (this.errorCount) parts.push(`${this.errorCount} ${this.errorCount === 1 ? "error" : "errors"}`);
    this.lineInfo.textContent = parts.join(" · ");
    this.lineInfo.classList.toggle("has-errors", this.errorCount > 0);
    const live = this.run?.status === "running";
    this.followInfo.dataset.following = String(this.following);
    this.followInfo.textContent = !live ? (this.run ? "Run finished" : "") : this.following ? "Following live output" : "Paused: scrolled up";
    this.followInfo.dataset.live = String(live);
    this.jump.hidden = this.following;
    this.jump.querySelector(".jump-text").textContent = this.unseen ? `Jump to live · ${this.unseen} new` : "Jump to live";
    if (this.historyLoaded && this.lineCount === 0 && !live) {
      this.tail.hidden = false;
      this.tail.lastChild.textContent = this.logError ? `could not load the log: ${this.logError.message}` : "no log lines";
    } else if (this.logError) {
      this.tail.hidden = false;
      this.tail.lastChild.textContent = `could not load the log: ${this.logError.message}`;
    } else {
      this.tail.lastChild.textContent = "waiting for output";
      this.tail.hidden = !live;
    }
  }
}

function logLine(line) {
  const level = ["error", "warn", "info", "debug"].includes(line.level) ? line.level : "info";
  const kind = line.type === "command" ? "command" : line.type === "run" ? "run" : "";
  return h(
    "div",
    { class: ["ln", `lvl-${level}`, kind && `ln-${kind}`], dataset: { seq: line.seq, level, type: line.type } },
    h("span", { class: "ln-ts", title: absolute(line.ts) }, clock(line.ts)),
    h("span", { class: "ln-lvl" }, level.toUpperCase()),
    h("span", { class: "ln-msg" }, kind === "command" ? `$ ${line.message}` : line.message),
  );
}
