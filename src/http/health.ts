/** One readiness check: resolves when the dependency answers, rejects (or times out) when not. */
export type Check = () => Promise<unknown>;

export interface CheckResult {
  ok: boolean;
  ms: number;
  /** A short, fixed description of what failed: never the dependency's own error text (it may name hosts and users). */
  error?: string;
}

export interface ReadinessReport {
  status: "ready" | "not ready";
  checks: Record<string, CheckResult>;
}

/** Runs the checks in parallel, each limited to `timeoutMs`. */
export async function checkReadiness(checks: Record<string, Check>, timeoutMs = 2000): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new TimeoutError()), timeoutMs);
          }),
        ]);
        return [name, { ok: true, ms: elapsed(started) }];
      } catch (error) {
        return [name, { ok: false, ms: elapsed(started), error: error instanceof TimeoutError ? `no answer within ${timeoutMs} ms` : "unavailable" }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const results = Object.fromEntries(entries);
  return { status: entries.every(([, r]) => r.ok) ? "ready" : "not ready", checks: results };
}

class TimeoutError extends Error {}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
