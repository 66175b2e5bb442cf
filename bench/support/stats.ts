/** Small numeric helpers for the benchmark report. */

/** Nearest-rank percentile (p in 0..100) of the values; undefined for an empty list. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms / 10) / 100;
}

export function summarize(msValues: number[]): { p50: number | undefined; p95: number | undefined; max: number | undefined; mean: number | undefined } {
  const mean = msValues.length ? msValues.reduce((a, b) => a + b, 0) / msValues.length : undefined;
  return {
    p50: seconds(percentile(msValues, 50)),
    p95: seconds(percentile(msValues, 95)),
    max: seconds(msValues.length ? Math.max(...msValues) : undefined),
    mean: seconds(mean),
  };
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** A plain-text table: columns padded to their widest cell; numbers right-aligned. */
export function table(header: string[], rows: (string | number | undefined)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined ? "-" : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.every((r) => r[i] === undefined || typeof r[i] === "number"));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}
