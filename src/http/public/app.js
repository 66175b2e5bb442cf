// The status page of the Proxmox Terraform Manager sidecar: the VMs, their runs and a run's live
// Terraform log. Plain browser JavaScript (an ES module, no build step, no framework); the
// sidecar serves it with express.static under a CSP of default-src 'self'. docs/status-page.md
// describes the page, its routes and how it stays live.
//
// Rules this file keeps:
// - Data never becomes markup: every text goes through textContent (h() below); no innerHTML.
// - No inline styles (the CSP refuses them): looks are classes in styles.css.
// - URLs are relative to the page, so the page works behind a path prefix too.
// - One EventSource at a time; the REST API gives the snapshot, the stream keeps it current.

/* global document, window, location, history, sessionStorage, EventSource, fetch, URL,
   URLSearchParams, Node, requestAnimationFrame, setTimeout, clearTimeout, setInterval */

const API_BASE = "api/v1/";
const TOKEN_KEY = "ptm.readToken";
const RUNS_PAGE_SIZE = 20;
const TERMINAL_RUN_STATES = new Set(["succeeded", "no_changes", "failed"]);
const APP_NAME = "Proxmox Terraform Manager";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---- read token ------------------------------------------------------------------------------

/**
 * The read token, when the sidecar asks for one: `?token=` in the page's URL, kept in
 * sessionStorage (this tab only) and removed from the address bar so it does not end up in
 * history, bookmarks or links people share.
 */
const auth = (() => {
  let token = "";
  try {
    token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    // Storage can be disabled; the token then lives in memory for this page load.
  }
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given !== null) {
    token = given;
    try {
      sessionStorage.setItem(TOKEN_KEY, given);
    } catch {
      // Memory only, see above.
    }
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  return {
    get token() {
      return token;
    },
  };
})();

// ---- REST API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

function apiUrl(path, params = {}) {
  const url = new URL(API_BASE + path, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url;
}

/** Server time minus browser time, from the Date header: ages stay right on a skewed laptop clock. */
let clockSkewMs = 0;
const serverNow = () => Date.now() + clockSkewMs;

function noteServerDate(header) {
  const server = header ? Date.parse(header) : NaN;
  if (Number.isNaN(server)) return;
  const skew = server + 500 - Date.now(); // the header has whole seconds: assume the middle
  clockSkewMs = Math.abs(skew) > 2000 ? skew : 0;
}

async function api(path, params, options = {}) {
  const headers = { Accept: "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let response;
  try {
    response = await fetch(apiUrl(path, params), { headers, cache: "no-store", signal: options.signal });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "the sidecar cannot be reached");
  }
  noteServerDate(response.headers.get("Date"));
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    const error = new ApiError(response.status, errorText(text) || `${response.status} ${response.statusText}`);
    if (response.status === 401 || response.status === 403) banner.auth(error);
    throw error;
  }
  const body = await response.json().catch(() => {
    throw new ApiError(response.status, "the sidecar answered something that is not JSON");
  });
  banner.clearAuth();
  return body;
}

function errorText(text) {
  try {
    const body = JSON.parse(text);
    if (typeof body === "string") return body;
    if (typeof body?.message === "string") return body.message;
    if (typeof body?.error === "string") return body.error;
    if (typeof body?.error?.message === "string") return body.error.message;
  } catch {
    // Not JSON: an HTML error page says nothing useful.
  }
  return "";
}

// ---- DOM helpers -----------------------------------------------------------------------------

/**
 * Creates an element. `props`: class (string or array), text, dataset, on<event> (a function),
 * any other attribute (false/null/undefined leave it out). Children: nodes or strings (strings
 * become text nodes, never markup).
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "style" || key.startsWith("on")) throw new Error(`h(): ${key} is not allowed`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  check: "M3.5 8.5l3 3 6-7",
  cross: "M4.5 4.5l7 7m0-7l-7 7",
  arrowDown: "M8 3v10m-4-4l4 4 4-4",
  chevron: "M6 3.5L10.5 8 6 12.5",
  back: "M10 3.5L5.5 8l4.5 4.5",
  refresh: "M13 8a5 5 0 1 1-1.5-3.5M13 2.5v3h-3",
  search: "M7 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zm3.6-1.4L14 14",
  minus: "M4 8h8",
  wrap: "M2.5 4h11M2.5 8h9a2 2 0 0 1 0 4H8m1.5-1.5L8 12l1.5 1.5M2.5 12h3",
};

function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

/** Highlights an element briefly (CSS animation); restarts when it changes again meanwhile. */
function flash(el) {
  el.classList.remove("flash");
  void el.offsetWidth; // restart the animation
  el.classList.add("flash");
}

function href(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

function shortId(id) {
  return String(id ?? "").slice(0, 8);
}

// ---- time ------------------------------------------------------------------------------------

/** kubectl's age format (HumanDuration): 41s, 5m3s, 42m, 3h5m, 26h, 4d2h, 41d, 2y30d. */
function humanAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 8) return m % 60 ? `${hours}h${m % 60}m` : `${hours}h`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  return days % 365 && years < 8 ? `${years}y${days % 365}d` : `${years}y`;
}

function humanAgo(ms) {
  return ms < 5000 ? "just now" : `${humanAge(ms)} ago`;
}

/** A run's duration: 850ms, 12s, 3m 07s, 1h 02m. */
function humanDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

const absoluteFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
function absolute(ts) {
  const t = Date.parse(ts);
  return Number.isNaN(t) ? String(ts) : absoluteFormat.format(t);
}

function clock(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "--:--:--.---";
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A timestamp that keeps itself current: "age" (41s) or "ago" (41s ago). */
function timeEl(ts, format = "ago") {
  if (!ts) return h("span", { class: "muted" }, "—");
  const el = h("time", { datetime: ts, title: absolute(ts), dataset: { tick: format, ts } });
  renderTick(el);
  return el;
}

/** A duration that ticks while `end` is missing (a running run). */
function durationEl(start, end) {
  if (!start) return h("span", { class: "muted" }, "—");
  const el = h("span", { class: "duration", dataset: { tick: "duration", start, end: end ?? "" } });
  renderTick(el);
  return el;
}

function renderTick(el) {
  const { tick, ts, start, end } = el.dataset;
  let text;
  if (tick === "duration") {
    const stop = end ? Date.parse(end) : serverNow();
    text = humanDuration(stop - Date.parse(start));
  } else {
    const ms = serverNow() - Date.parse(ts);
    text = tick === "age" ? humanAge(ms) : humanAgo(ms);
  }
  if (el.textContent !== text) el.textContent = text;
}

setInterval(() => {
  for (const el of document.querySelectorAll("[data-tick]")) renderTick(el);
}, 1000);

// ---- what the data means ---------------------------------------------------------------------

const vmKey = (namespace, name) => `${namespace}/${name}`;
const condition = (vm, type) => vm?.status?.conditions?.find((c) => c.type === type);

const STATE_TONES = {
  Running: "ok",
  Provisioning: "progress",
  Pending: "neutral",
  Stopped: "neutral",
  Failed: "bad",
  Deleting: "warn",
};

function vmState(vm) {
  const state = vm.status?.state || "Pending";
  return { label: state, tone: STATE_TONES[state] ?? "neutral" };
}

/** Ready as people read it: a tone for the dot, a word, and the condition's message. */
function readiness(vm) {
  const c = condition(vm, "Ready");
  if (!c) return { tone: "neutral", label: "Unknown", detail: "waiting for the operator", title: "No Ready condition yet" };
  const title = [c.reason, c.message].filter(Boolean).join(": ");
  if (c.status === "True") return { tone: "ok", label: "Ready", detail: c.message || c.reason, title };
  if (c.status === "False") return { tone: "bad", label: "Not ready", detail: c.message || c.reason, title };
  return { tone: "wait", label: c.reason || "Unknown", detail: c.message, title };
}

/** What the operator is doing right now (Reconciling=True), or why it stopped trying (Stalled). */
function activity(vm) {
  const stalled = condition(vm, "Stalled");
  if (stalled?.status === "True") return { tone: "bad", text: `Stalled: ${stalled.reason}`, title: stalled.message };
  const reconciling = condition(vm, "Reconciling");
  if (reconciling?.status === "True") return { tone: "progress", text: `${reconciling.reason}…`, title: reconciling.message };
  if (reconciling?.reason === "AwaitingApproval") return { tone: "wait", text: "Awaiting approval", title: reconciling.message };
  return undefined;
}

const RUN_TONES = { running: "progress", queued: "neutral", succeeded: "ok", no_changes: "neutral", failed: "bad" };
const RUN_LABELS = { running: "Running", queued: "Queued", succeeded: "Succeeded", no_changes: "No changes", failed: "Failed" };
const ACTION_LABELS = { apply: "Apply", destroy: "Destroy", plan: "Plan", forget: "Forget" };

function stateBadge(label, tone, extraClass) {
  return h("span", { class: ["badge", `tone-${tone}`, extraClass] }, h("span", { class: "badge-dot", "aria-hidden": "true" }), label);
}

function runStatusPill(status) {
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

function readyDot(tone, label) {
  return h("span", { class: ["ready", `tone-${tone}`] }, h("span", { class: "dot", "aria-hidden": "true" }), h("span", { class: "ready-label" }, label));
}

function changeCounts(run) {
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
function newerRun(current, incoming) {
  if (!current) return incoming;
  if (TERMINAL_RUN_STATES.has(current.status) && !TERMINAL_RUN_STATES.has(incoming.status)) return current;
  return { ...current, ...incoming };
}

// ---- notices ---------------------------------------------------------------------------------

const banner = {
  el: document.getElementById("banner"),
  kind: "",
  auth(error) {
    this.kind = "auth";
    const has = Boolean(auth.token);
    this.el.replaceChildren(
      h("strong", null, has ? "The read token was refused." : "This page needs a read token."),
      " ",
      has
        ? `The sidecar answered ${error.status}. Open the page again with a valid token: `
        : "The sidecar requires a read token. Open the page with the token in its address: ",
      h("code", null, `${location.origin}${location.pathname}?token=…`),
    );
    this.el.hidden = false;
  },
  clearAuth() {
    if (this.kind !== "auth") return;
    this.kind = "";
    this.el.hidden = true;
    this.el.replaceChildren();
  },
};

// ---- the live stream -------------------------------------------------------------------------

const connection = {
  el: document.getElementById("conn"),
  retry: document.getElementById("conn-retry"),
  state: "connecting",
  set(state, title) {
    const text = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline" }[state];
    this.state = state;
    this.el.dataset.state = state;
    this.el.title = title;
    const label = this.el.querySelector(".conn-text");
    if (label.textContent !== text) label.textContent = text;
    this.retry.hidden = state !== "offline";
    document.body.classList.toggle("is-stale", state !== "live");
  },
};

/**
 * The one EventSource of the page. The browser reconnects by itself and resumes with
 * Last-Event-ID; when it gives up (the server answered with an error) this retries with
 * backoff. A new EventSource knows no Last-Event-ID, so its first `open` asks the view to
 * reload its snapshot; `reset` (the server lost history) does the same.
 */
class LiveStream {
  constructor(handlers) {
    this.handlers = handlers;
    this.es = null;
    this.key = "";
    this.params = {};
    this.failures = 0;
    this.timer = undefined;
    connection.retry.addEventListener("click", () => this.connect());
    window.addEventListener("online", () => {
      if (!this.es || this.es.readyState === EventSource.CLOSED) this.connect();
      else if (this.es.readyState === EventSource.OPEN) connection.set("live", "Live updates: connected; changes appear as they happen");
      else connection.set("reconnecting", "Live updates interrupted; reconnecting (the page shows the last known state)");
    });
    window.addEventListener("offline", () => connection.set("offline", "This device is offline"));
  }

  /** Subscribes with these filters; keeps the current connection when they did not change. */
  want(params) {
    const key = JSON.stringify(params);
    if (key === this.key && this.es && this.es.readyState !== EventSource.CLOSED) return;
    this.key = key;
    this.params = params;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    this.es?.close();
    const es = new EventSource(apiUrl("events", { ...this.params, access_token: auth.token }));
    this.es = es;
    let opened = false;
    if (connection.state === "live" || connection.state === "connecting") connection.set("connecting", "Live updates: connecting");
    es.addEventListener("open", () => {
      if (es !== this.es) return;
      this.failures = 0;
      connection.set("live", "Live updates: connected; changes appear as they happen");
      if (!opened) {
        opened = true;
        this.handlers.fresh();
      }
    });
    es.addEventListener("error", () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        const delay = Math.min(30_000, 1000 * 2 ** this.failures++);
        connection.set("offline", `Live updates stopped; trying again in ${Math.round(delay / 1000)}s`);
        this.timer = setTimeout(() => this.connect(), delay);
      } else {
        connection.set("reconnecting", "Live updates interrupted; reconnecting (the page shows the last known state)");
      }
    });
    for (const type of ["vm", "run", "log", "reset"]) {
      es.addEventListener(type, (event) => {
        if (es !== this.es) return;
        let data = null;
        if (event.data) {
          try {
            data = JSON.parse(event.data);
          } catch {
            return;
          }
        }
        this.handlers.event(type, data);
      });
    }
  }
}

// ---- VMs: one store for every view -----------------------------------------------------------

/**
 * All ProxmoxVMs the sidecar shows. load() takes a snapshot; live events that arrive while it is
 * on its way are queued and replayed on top of it, so neither an older snapshot nor an older
 * event wins.
 */
class VmStore {
  constructor() {
    this.vms = new Map();
    this.loaded = false;
    this.error = null;
    this.queue = null;
    this.generation = 0;
    this.retryTimer = undefined;
    this.listeners = new Set();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change);
  }

  async load() {
    const generation = ++this.generation;
    this.queue ??= [];
    try {
      const body = await api("vms");
      if (generation !== this.generation) return;
      this.vms = new Map((body.items ?? []).map((vm) => [vmKey(vm.namespace, vm.name), vm]));
      this.loaded = true;
      this.error = null;
    } catch (error) {
      if (generation !== this.generation) return;
      this.error = error;
      // 503: the sidecar's VM cache is still filling (it just started); ask again shortly.
      if (error.status === 503) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.load(), 1500);
      }
    }
    const queued = this.queue ?? [];
    this.queue = null;
    for (const event of queued) this.apply(event);
    this.emit({ kind: "snapshot" });
  }

  event(event) {
    if (!event?.vm) return;
    if (this.queue) {
      this.queue.push(event);
      return;
    }
    this.apply(event);
    this.emit({ kind: event.type === "delete" ? "delete" : "upsert", key: vmKey(event.vm.namespace, event.vm.name) });
  }

  apply(event) {
    const key = vmKey(event.vm.namespace, event.vm.name);
    if (event.type === "delete") this.vms.delete(key);
    else this.vms.set(key, event.vm);
  }

  get(namespace, name) {
    return this.vms.get(vmKey(namespace, name));
  }
}

const vmStore = new VmStore();
/** Runs seen anywhere on the page, so opening one from a list shows its header at once. */
const runCache = new Map();

// ---- view: all VMs ---------------------------------------------------------------------------

/** The table's columns. `sig` is what the cell shows: a cell re-renders (and flashes) only when it changes. */
const VM_COLUMNS = [
  { key: "ns", label: "Namespace", sig: (vm) => vm.namespace, cell: (vm) => h("span", { class: "ns" }, vm.namespace) },
  {
    key: "name",
    label: "Name",
    sig: (vm) => vm.name,
    cell: (vm) => h("a", { class: "vm-name", href: href("vm", vm.namespace, vm.name), tabindex: "-1" }, vm.name),
  },
  { key: "node", label: "Node", sig: (vm) => vm.status?.node || vm.nodeName, cell: (vm) => vm.status?.node || vm.nodeName || dash() },
  { key: "vmid", label: "VMID", sig: (vm) => vm.status?.vmId, cell: (vm) => (vm.status?.vmId != null ? h("span", { class: "mono" }, String(vm.status.vmId)) : dash()) },
  {
    key: "state",
    label: "State",
    sig: (vm) => JSON.stringify([vm.status?.state, activity(vm)]),
    cell: (vm) => {
      const state = vmState(vm);
      const doing = activity(vm);
      return [stateBadge(state.label, state.tone), doing && h("div", { class: ["sub", `text-${doing.tone}`], title: doing.title }, doing.text)];
    },
  },
  {
    key: "ips",
    label: "IPs",
    sig: (vm) => JSON.stringify(vm.status?.ipAddresses ?? []),
    empty: (vm) => !vm.status?.ipAddresses?.length,
    cell: (vm) => {
      const ips = vm.status?.ipAddresses ?? [];
      return ips.length ? h("ul", { class: "ips" }, ips.map((ip) => h("li", { class: "mono" }, ip))) : dash();
    },
  },
  {
    key: "ready",
    label: "Ready",
    sig: (vm) => JSON.stringify(readiness(vm)),
    cell: (vm) => {
      const r = readiness(vm);
      return h("div", { class: "ready-cell", title: r.title }, readyDot(r.tone, r.label), r.detail && h("div", { class: "sub" }, r.detail));
    },
  },
  { key: "run", label: "Last run", sig: (vm) => JSON.stringify(vm.status?.lastRun ?? null), cell: (vm) => lastRunCell(vm.status?.lastRun) },
  { key: "age", label: "Age", sig: (vm) => vm.creationTimestamp, cell: (vm) => timeEl(vm.creationTimestamp, "age") },
];

function dash() {
  return h("span", { class: "muted" }, "—");
}

function lastRunCell(run) {
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

let lastOpenedVm = "";

class ListView {
  constructor(route) {
    this.kind = "list";
    this.rows = new Map();
    this.read(route);
  }

  read(route) {
    this.namespace = route.query.get("ns") ?? "";
    this.search = route.query.get("q") ?? "";
  }

  streamParams() {
    return {};
  }

  mount(main) {
    setTitle("Virtual machines");
    this.subtitle = h("p", { class: "subtitle" });
    this.stats = h("div", { class: "stats", role: "group", "aria-label": "Summary" });
    this.nsSelect = h("select", { id: "ns-filter", class: "select", onchange: () => this.filterChanged() });
    this.searchInput = h("input", {
      id: "vm-search",
      class: "search-input",
      type: "search",
      placeholder: "Filter by name, node, VMID or IP",
      autocomplete: "off",
      spellcheck: "false",
      oninput: () => this.filterChanged(),
    });
    this.searchInput.value = this.search;
    this.tbody = h("tbody");
    this.table = h(
      "table",
      { class: "vm-table", id: "vm-table" },
      h("caption", { class: "sr-only" }, "ProxmoxVMs; select a row to see its runs"),
      h("thead", null, h("tr", null, VM_COLUMNS.map((c) => h("th", { scope: "col", class: `c-${c.key}` }, c.label)))),
      this.tbody,
    );
    this.empty = h("div", { class: "empty", hidden: true });
    this.tbody.addEventListener("click", (event) => this.rowActivated(event));
    this.tbody.addEventListener("keydown", (event) => {
      if (event.target instanceof window.HTMLTableRowElement && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.open(event.target);
      }
    });
    main.replaceChildren(
      h("div", { class: "page-head" }, h("div", { class: "page-title" }, h("h1", { tabindex: "-1" }, "Virtual machines"), this.subtitle), this.stats),
      h(
        "div",
        { class: "toolbar" },
        h("label", { class: "field" }, h("span", { class: "field-label" }, "Namespace"), this.nsSelect),
        h("label", { class: "field field-grow" }, h("span", { class: "field-label" }, "Search"), h("span", { class: "search" }, icon("search"), this.searchInput)),
      ),
      h("div", { class: "card table-card" }, this.table, this.empty),
    );
    this.unsubscribe = vmStore.subscribe((change) => this.render(change));
    this.render({ kind: "initial" });
    if (lastOpenedVm) this.rows.get(lastOpenedVm)?.focus({ preventScroll: false });
    void vmStore.load();
  }

  unmount() {
    this.unsubscribe?.();
  }

  update(route) {
    this.read(route);
    if (this.searchInput.value !== this.search) this.searchInput.value = this.search;
    this.render({ kind: "filter" });
  }

  resync() {
    void vmStore.load();
  }

  onEvent() {
    // VM events reach the store, which re-renders this view.
  }

  filterChanged() {
    this.namespace = this.nsSelect.value;
    this.search = this.searchInput.value;
    const query = new URLSearchParams();
    if (this.namespace) query.set("ns", this.namespace);
    if (this.search) query.set("q", this.search);
    const hash = query.size ? `#/?${query}` : "#/";
    if (location.hash !== hash) history.replaceState(history.state, "", hash);
    this.render({ kind: "filter" });
  }

  matches(vm) {
    if (this.namespace && vm.namespace !== this.namespace) return false;
    const q = this.search.trim().toLowerCase();
    if (!q) return true;
    const haystack = [vm.name, vm.namespace, vm.status?.node, vm.nodeName, vm.status?.vmId, vm.status?.state, ...(vm.status?.ipAddresses ?? [])];
    return haystack.some((v) => v != null && String(v).toLowerCase().includes(q));
  }

  render(change) {
    const all = [...vmStore.vms.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    this.renderNamespaces(all);
    this.renderStats(all);
    const shown = all.filter((vm) => this.matches(vm));
    const animate = change.kind === "upsert" || change.kind === "snapshot";
    const keep = new Set();
    shown.forEach((vm, index) => {
      const key = vmKey(vm.namespace, vm.name);
      keep.add(key);
      let row = this.rows.get(key);
      const isNew = !row;
      if (isNew) {
        row = h("tr", { class: "vm-row", tabindex: "0", dataset: { key }, "aria-label": `${vm.name} in ${vm.namespace}` });
        row.sigs = [];
        this.rows.set(key, row);
      }
      this.fillRow(row, vm, animate && !isNew);
      if (isNew && animate && this.ready) flash(row);
      if (this.tbody.children[index] !== row) this.tbody.insertBefore(row, this.tbody.children[index] ?? null);
    });
    for (const [key, row] of this.rows) {
      if (keep.has(key)) continue;
      this.rows.delete(key);
      if (change.kind === "delete" && change.key === key) {
        row.classList.add("leaving");
        setTimeout(() => row.remove(), 700);
      } else {
        row.remove();
      }
    }
    if (vmStore.loaded || vmStore.error) this.ready = true;
    this.renderEmpty(all, shown);
    this.table.setAttribute("aria-busy", String(!this.ready));
  }

  fillRow(row, vm, animate) {
    VM_COLUMNS.forEach((column, i) => {
      const sig = column.sig(vm) ?? "";
      if (row.sigs[i] === sig && row.children[i]) return;
      const td = h("td", { class: [`c-${column.key}`, column.empty?.(vm) && "is-empty"], dataset: { label: column.label } }, column.cell(vm));
      if (row.children[i]) row.children[i].replaceWith(td);
      else row.append(td);
      if (animate && row.sigs[i] !== undefined) flash(td);
      row.sigs[i] = sig;
    });
    row.dataset.state = vm.status?.state ?? "Pending";
    row.dataset.ready = condition(vm, "Ready")?.status ?? "Unknown";
  }

  renderNamespaces(all) {
    const namespaces = [...new Set(all.map((vm) => vm.namespace))].sort();
    if (this.namespace && !namespaces.includes(this.namespace)) namespaces.unshift(this.namespace);
    const sig = namespaces.join("\n");
    if (this.nsSig !== sig) {
      this.nsSig = sig;
      this.nsSelect.replaceChildren(h("option", { value: "" }, "All namespaces"), namespaces.map((ns) => h("option", { value: ns }, ns)));
    }
    this.nsSelect.value = this.namespace;
  }

  renderStats(all) {
    const count = (predicate) => all.filter(predicate).length;
    const stats = [
      { key: "total", label: "VMs", value: all.length, tone: "plain" },
      { key: "running", label: "Running", value: count((vm) => vm.status?.state === "Running"), tone: "ok" },
      {
        key: "progress",
        label: "In progress",
        value: count((vm) => ["Provisioning", "Pending", "Deleting"].includes(vm.status?.state ?? "Pending") || condition(vm, "Reconciling")?.status === "True"),
        tone: "progress",
      },
      { key: "failed", label: "Failed", value: count((vm) => vm.status?.state === "Failed" || condition(vm, "Ready")?.status === "False"), tone: "bad" },
    ];
    if (!this.statEls) {
      this.statEls = new Map();
      for (const s of stats) {
        const value = h("span", { class: "stat-value" });
        this.statEls.set(s.key, value);
        this.stats.append(h("div", { class: ["stat", `tone-${s.tone}`], dataset: { stat: s.key } }, value, h("span", { class: "stat-label" }, s.label)));
      }
    }
    for (const s of stats) {
      const el = this.statEls.get(s.key);
      const text = this.ready || vmStore.loaded ? String(s.value) : "–";
      if (el.textContent !== text) {
        if (el.textContent && el.textContent !== "–") flash(el.parentElement);
        el.textContent = text;
      }
      el.parentElement.classList.toggle("is-zero", s.value === 0);
    }
    const namespaces = new Set(all.map((vm) => vm.namespace)).size;
    this.subtitle.textContent = vmStore.loaded
      ? `${all.length} ${all.length === 1 ? "VM" : "VMs"} in ${namespaces} ${namespaces === 1 ? "namespace" : "namespaces"}`
      : "Loading…";
  }

  renderEmpty(all, shown) {
    let content = null;
    if (vmStore.error && !vmStore.loaded && vmStore.error.status !== 503) {
      content = [
        h("p", { class: "empty-title" }, "Could not load the VMs"),
        h("p", null, vmStore.error.message),
        h("button", { class: "button", type: "button", onclick: () => void vmStore.load() }, icon("refresh"), "Try again"),
      ];
    } else if (!vmStore.loaded) {
      content = [h("p", { class: "empty-title" }, h("span", { class: "spinner" }), " Loading VMs…")];
    } else if (all.length === 0) {
      content = [
        h("p", { class: "empty-title" }, "No ProxmoxVMs yet"),
        h("p", null, "Apply a manifest and it shows up here within a second:"),
        h("pre", { class: "snippet" }, "kubectl apply -f examples/vm-small.yaml"),
      ];
    } else if (shown.length === 0) {
      content = [
        h("p", { class: "empty-title" }, "No VM matches the filter"),
        h("button", { class: "button", type: "button", onclick: () => navigate("#/") }, "Show all VMs"),
      ];
    }
    this.empty.hidden = !content;
    this.table.classList.toggle("is-empty", shown.length === 0);
    if (content) this.empty.replaceChildren(...content);
  }

  rowActivated(event) {
    if (event.target.closest("a[href]:not(.vm-name)")) return; // the last-run link goes to the run
    const row = event.target.closest("tr.vm-row");
    if (row) {
      event.preventDefault();
      this.open(row);
    }
  }

  open(row) {
    const [namespace, ...rest] = row.dataset.key.split("/");
    lastOpenedVm = row.dataset.key;
    navigate(href("vm", namespace, rest.join("/")));
  }
}

// ---- view: one VM and its runs ---------------------------------------------------------------

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

class VmView {
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
    lastOpenedVm = this.key;
    setTitle(`${this.name} · ${this.namespace}`);
    this.head = h("div", { class: "detail-head" });
    this.facts = h("dl", { class: "facts" });
    this.conditions = h("div", { class: "conditions" });
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

// ---- view: one run and its live log ----------------------------------------------------------

class RunView {
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
    void this.catchUp();
  }

  unmount() {
    this.disposed = true;
    clearTimeout(this.refreshTimer);
  }

  resync() {
    void this.loadRun();
    void this.catchUp();
  }

  onEvent(type, data) {
    if (type === "run" && data?.id === this.id) {
      this.run = newerRun(this.run, data);
      runCache.set(this.id, this.run);
      this.renderRun(true);
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

/** A run by id: `GET runs/{id}`; a sidecar without it is searched page by page (newest first). */
async function findRun(id) {
  try {
    const body = await api(`runs/${encodeURIComponent(id)}`);
    const run = body?.id ? body : (body?.run ?? body?.item);
    if (run?.id === id) return run;
  } catch (error) {
    if (error.status !== 404 && error.status !== 405) throw error;
  }
  let cursor;
  for (let page = 0; page < 10; page++) {
    const body = await api("runs", { limit: 100, cursor });
    const run = (body.items ?? []).find((r) => r.id === id);
    if (run) return run;
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  return null;
}

// ---- shared bits of the views ----------------------------------------------------------------

function breadcrumbs(items) {
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

function setTitle(text) {
  document.title = `${text} · ${APP_NAME}`;
}

// ---- routing ---------------------------------------------------------------------------------

/** `#/` (optionally `?ns=&q=`), `#/vm/<namespace>/<name>`, `#/run/<id>`. */
function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?", 2);
  let parts;
  try {
    parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts[0] === "vm" && parts.length === 3) return { view: "vm", namespace: parts[1], name: parts[2] };
  if (parts[0] === "run" && parts.length === 2) return { view: "run", id: parts[1] };
  return { view: "list", query: new URLSearchParams(query) };
}

function navigate(hash) {
  if (location.hash === hash) return;
  location.hash = hash;
}

const main = document.getElementById("main");
let view = null;

function route() {
  const next = parseRoute();
  if (view && next.view === "list" && view.kind === "list") {
    view.update(next);
    return;
  }
  if (view?.sameAs?.(next)) return;
  view?.unmount();
  view = next.view === "vm" ? new VmView(next) : next.view === "run" ? new RunView(next) : new ListView(next);
  window.scrollTo(0, 0);
  view.mount(main);
  stream.want(view.streamParams());
}

const stream = new LiveStream({
  fresh: () => view?.resync(),
  event: (type, data) => {
    if (type === "reset") {
      view?.resync();
      return;
    }
    if (type === "vm") vmStore.event(data);
    if (type === "run" && data?.id) runCache.set(data.id, newerRun(runCache.get(data.id), data));
    view?.onEvent(type, data);
  },
});

window.addEventListener("hashchange", route);
route();
