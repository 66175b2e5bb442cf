/**
 * The unknown-route guard. A Proxmox route the simulator does not implement is answered 501 and
 * recorded; a client that calls one is relying on an API we have not simulated, so the test that
 * caused it must fail, whatever it asserted. Every harness that starts a simulator uses this:
 * test/support/operator-suite.ts (the operator) and test/simulator/harness.ts (the provider).
 *
 * This module does not import vitest, so bench/ can load the harnesses that use it.
 */
import type { RunningSimulator, UnknownRoute } from "../../src/simulator/index.js";

/** Routes already reported: a later check (the next test, the suite's close) does not fail again for them. */
const reported = new WeakSet<UnknownRoute>();

export class UnknownRouteError extends Error {
  constructor(readonly routes: UnknownRoute[]) {
    super(
      `the simulator was asked for ${routes.length} route(s) it does not implement (answered 501): ` +
        `${routes.map((r) => `${r.method} ${r.path}`).join(", ")}. Add the endpoint to src/simulator or fix the client.`,
    );
    this.name = "UnknownRouteError";
  }
}

/** Unknown routes `sim` served that no check has reported yet; they count as reported from now on. */
export function takeUnknownRoutes(sim: RunningSimulator): UnknownRoute[] {
  const fresh = sim.unknownRoutes().filter((route) => !reported.has(route));
  for (const route of fresh) reported.add(route);
  return fresh;
}

/** Throws UnknownRouteError if `sim` served an unknown route since the last check. */
export function assertNoUnknownRoutes(sim: RunningSimulator): void {
  const fresh = takeUnknownRoutes(sim);
  if (fresh.length > 0) throw new UnknownRouteError(fresh);
}
