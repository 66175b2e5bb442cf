// Times as people read them, and the elements that keep them current (ages tick every second).

/* global document, setInterval */

import { serverNow } from "./api.js";
import { h } from "./dom.js";

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
export function absolute(ts) {
  const t = Date.parse(ts);
  return Number.isNaN(t) ? String(ts) : absoluteFormat.format(t);
}

export function clock(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "--:--:--.---";
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A timestamp that keeps itself current: "age" (41s) or "ago" (41s ago). */
export function timeEl(ts, format = "ago") {
  if (!ts) return h("span", { class: "muted" }, "—");
  const el = h("time", { datetime: ts, title: absolute(ts), dataset: { tick: format, ts } });
  renderTick(el);
  return el;
}

/** A duration that ticks while `end` is missing (a running run). */
export function durationEl(start, end) {
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

/** Keeps every ticking time on the page current, whichever view made it. */
export function startTicking() {
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-tick]")) renderTick(el);
  }, 1000);
}
