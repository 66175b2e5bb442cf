// The live stream: the page's one EventSource, and the connection indicator that shows its state.

/* global document, window, EventSource, setTimeout, clearTimeout */

import { apiUrl } from "./api.js";
import { auth } from "./read-token.js";

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

/** Whether the live stream is connected: while it is not, the page shows the last known state. */
export function isLive() {
  return connection.state === "live";
}

/**
 * The one EventSource of the page. The browser reconnects by itself and resumes with
 * Last-Event-ID; when it gives up (the server answered with an error) this retries with
 * backoff. A new EventSource knows no Last-Event-ID, so its first `open` asks the view to
 * reload its snapshot; `reset` (the server lost history) does the same.
 */
export class LiveStream {
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
