/**
 * Spreads a delay over [ms, ms × (1 + fraction)): 10,000 VMs queued in the same second then wake
 * over a few minutes instead of at once (Flux jitters its requeues the same way).
 */
export function jittered(ms: number, fraction = 0.1, random: () => number = Math.random): number {
  return Math.round(ms * (1 + fraction * random()));
}
