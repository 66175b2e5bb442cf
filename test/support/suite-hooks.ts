/**
 * Vitest hooks the suites share: a simulator's unknown routes fail the test that caused them, and
 * an operator harness that starts before, is checked after each test, and closes after its suite.
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import type { RunningSimulator } from "../../src/simulator/index.js";
import { OperatorHarness, type HarnessOptions } from "./operator-harness.js";
import { assertNoUnknownRoutes } from "./unknown-route-guard.js";

/** After each test of the current suite, fails that test if a started simulator served an unknown route. */
export function guardUnknownRoutes(simulators: () => (RunningSimulator | undefined)[]): void {
  afterEach(() => {
    for (const sim of simulators()) if (sim) assertNoUnknownRoutes(sim);
  });
}

/**
 * An OperatorHarness for the current suite: started in beforeAll, the unknown-route guard after
 * each test, closed in afterAll (which also fails on unknown routes no test was blamed for).
 */
export function useOperatorHarness(options: HarnessOptions = {}): OperatorHarness {
  const h = new OperatorHarness(options);
  beforeAll(async () => {
    await h.start();
  });
  guardUnknownRoutes(() => [h.started ? h.sim : undefined]);
  afterAll(() => h.close());
  return h;
}

/** The unknown-route guard for a harness the suite starts and closes itself. */
export function guardOperatorHarness(h: OperatorHarness): void {
  guardUnknownRoutes(() => [h.started ? h.sim : undefined]);
}
