import { stringify as toYaml } from "yaml";
import type { OutputFormat } from "./args.js";

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Columns padded to their widest cell, three spaces apart, as kubectl prints them. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** json and yaml print the data itself; table and wide print `tableOf(wide)`. */
export function render(format: OutputFormat, data: unknown, tableOf: (wide: boolean) => string): string {
  if (format === "json") return `${JSON.stringify(data, null, 2)}\n`;
  if (format === "yaml") return toYaml(data);
  return tableOf(format === "wide");
}

/** kubectl's AGE column: 45s, 12m, 3h, 5d (and 2y). */
export function age(since: string | null | undefined, now: number): string {
  if (!since) return "<unknown>";
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (Number.isNaN(seconds)) return "<unknown>";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  return days < 730 ? `${days}d` : `${Math.floor(days / 365)}y`;
}

/** A run's length: 850ms, 42s, 3m07s. */
export function duration(from: string | null, to: string | null): string {
  if (!from || !to) return "";
  const ms = Date.parse(to) - Date.parse(from);
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${ms}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

/** An empty cell shows as kubectl's "<none>". */
export const none = (value: string | number | null | undefined): string => (value === undefined || value === null || value === "" ? "<none>" : String(value));
