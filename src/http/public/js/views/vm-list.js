// The view of all VMs (`#/`): a summary, a namespace filter, a search box and the table, kept
// current from the VM store.

/* global window, location, history, URLSearchParams, setTimeout */

import { flash, h, icon } from "../dom.js";
import { activity, condition, readiness, readyDot, stateBadge, vmKey, vmState } from "../model.js";
import { href, navigate } from "../routes.js";
import { timeEl } from "../time.js";
import { vmStore } from "../vm-store.js";
import { ConnectionsPanel } from "./connections-panel.js";
import { dash, lastOpenedVm, lastRunCell, setTitle } from "./shared.js";

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

export class ListView {
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
    this.connections = new ConnectionsPanel();
    this.tbody.addEventListener("click", (event) => this.rowActivated(event));
    this.tbody.addEventListener("keydown", (event) => {
      if (event.target instanceof window.HTMLTableRowElement && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.open(event.target);
      }
    });
    main.replaceChildren(
      h("div", { class: "page-head" }, h("div", { class: "page-title" }, h("h1", { tabindex: "-1" }, "Virtual machines"), this.subtitle), this.stats),
      this.connections.el,
      h(
        "div",
        { class: "toolbar" },
        h("label", { class: "field" }, h("span", { class: "field-label" }, "Namespace"), this.nsSelect),
        h("label", { class: "field field-grow" }, h("span", { class: "field-label" }, "Search"), h("span", { class: "search" }, icon("search"), this.searchInput)),
      ),
      h("div", { class: "card table-card" }, this.table, this.empty),
    );
    this.connections.start();
    this.unsubscribe = vmStore.subscribe((change) => this.render(change));
    this.render({ kind: "initial" });
    if (lastOpenedVm.get()) this.rows.get(lastOpenedVm.get())?.focus({ preventScroll: false });
    void vmStore.load();
  }

  unmount() {
    this.unsubscribe?.();
    this.connections?.stop();
  }

  update(route) {
    this.read(route);
    if (this.searchInput.value !== this.search) this.searchInput.value = this.search;
    this.render({ kind: "filter" });
  }

  resync() {
    void vmStore.load();
    void this.connections?.load();
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
    lastOpenedVm.set(row.dataset.key);
    navigate(href("vm", namespace, rest.join("/")));
  }
}
