/**
 * Waiting for a condition, not for a time: polls `check` until it returns something other than
 * undefined/false and returns that; on timeout the error names what was awaited and the last value.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  timeoutMs = cappedWait(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined | false;
  for (;;) {
    last = await check();
    if (last !== undefined && last !== false) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * `timeoutMs`, or less when PTM_TEST_WAIT_CAP_MS says so: scripts/mutation-check sets it so that
 * a deliberately broken operator fails its tests in seconds instead of after every long timeout.
 */
export function cappedWait(timeoutMs: number): number {
  const cap = Number(process.env.PTM_TEST_WAIT_CAP_MS);
  return Number.isFinite(cap) && cap > 0 ? Math.min(timeoutMs, cap) : timeoutMs;
}
