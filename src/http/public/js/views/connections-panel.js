// The connections panel of the VM list (`#/`): each ProxmoxConnection, where it points and how
// its last check went (`GET connections`). Connections are not on the event stream (their checks
// run every few minutes), so the panel reads them again every POLL_MS while it is shown and the
// stream is live, and at once when the stream (re)connects (the view's resync). While the sidecar
// cannot be reached it keeps showing the last known state, as the VM table does.

/* global setTimeout, clearTimeout */

import { api } from "../api.js";
import { h } from "../dom.js";
import { isLive } from "../live.js";
import { readyDot } from "../model.js";
import { timeEl } from "../time.js";

const POLL_MS = 10_000;
/** The sidecar's cache is still loading: look again soon. */
const RETRY_MS = 1_000;

/** Tone and label of a connection's Ready condition. */
function health(connection) {
  const { status, reason } = connection.ready;
  if (status === "True") return { tone: "ok", label: "Ready" };
  if (status === "False") return { tone: "bad", label: reason };
  return { tone: "muted", label: "Checking…" };
}

function nodesText(connection) {
  if (connection.nodeCount == null) return "—";
  if (connection.nodesOnline == null || connection.nodesOnline === connection.nodeCount) return String(connection.nodeCount);
  return `${connection.nodesOnline} of ${connection.nodeCount} online`;
}

export class ConnectionsPanel {
  constructor() {
    this.el = h("section", { class: "card pxc-panel", id: "connections", "aria-labelledby": "connections-title", hidden: true });
    this.list = h("ul", { class: "pxc-list" });
    this.note = h("p", { class: "pxc-note muted" });
    this.el.append(h("h2", { class: "pxc-panel-title", id: "connections-title" }, "Proxmox connections"), this.list, this.note);
    this.timer = undefined;
    this.stopped = false;
    this.loading = false;
  }

  start() {
    this.stopped = false;
    void this.load();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Reads the connections now; `whenLive`: only if the stream is connected (a timed poll). */
  async load(whenLive = false) {
    // One poll at a time: a resync while one is under way must not start a second chain of them.
    if (this.loading) return;
    clearTimeout(this.timer);
    if (whenLive && !isLive()) {
      this.schedule(POLL_MS);
      return;
    }
    this.loading = true;
    let next = POLL_MS;
    try {
      const { items } = await api("connections");
      this.render(items);
    } catch (error) {
      if (error.status === 503) next = RETRY_MS;
      else this.showNote(`Could not load the connections: ${error.message}`);
    } finally {
      this.loading = false;
    }
    this.schedule(next);
  }

  schedule(ms) {
    if (!this.stopped) this.timer = setTimeout(() => void this.load(true), ms);
  }

  showNote(text) {
    this.el.hidden = false;
    this.note.textContent = text;
    this.note.hidden = false;
  }

  render(connections) {
    this.el.hidden = false;
    this.note.hidden = connections.length > 0;
    if (connections.length === 0) this.note.textContent = "No ProxmoxConnections yet: VMs need one (kubectl apply -f examples/connection.yaml).";
    const sig = JSON.stringify(connections);
    if (sig === this.sig) return;
    this.sig = sig;
    this.list.replaceChildren(...connections.map((c) => this.item(c)));
  }

  item(connection) {
    const state = health(connection);
    const ready = connection.ready.status === "True";
    return h(
      "li",
      { class: "pxc-item", dataset: { connection: `${connection.namespace}/${connection.name}`, ready: connection.ready.status, reason: connection.ready.reason } },
      h("div", { class: "pxc-item-head" }, h("span", { class: "pxc-name" }, connection.name), h("span", { class: "ns" }, connection.namespace), readyDot(state.tone, state.label)),
      h(
        "dl",
        { class: "pxc-facts" },
        h("dt", null, "Endpoint"),
        h("dd", { class: "mono pxc-endpoint" }, connection.endpoint),
        h("dt", null, "Version"),
        h("dd", { class: "pxc-version" }, connection.version ?? "—"),
        h("dt", null, "Nodes"),
        h("dd", { class: "pxc-nodes" }, nodesText(connection)),
        h("dt", null, "Checked"),
        h("dd", null, timeEl(connection.lastCheckTime)),
      ),
      // A working connection's message is a summary; a broken one's says what to do.
      h("p", { class: ["pxc-message", ready ? "muted" : "text-bad"] }, connection.ready.message),
    );
  }
}
