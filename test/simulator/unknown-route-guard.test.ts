/**
 * The unknown-route guard itself (test/support/unknown-route-guard.ts, suite-hooks.ts): a
 * simulator that stops recording unknown routes, or a guard that stops looking, fails here.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/paths.js";
import { assertNoUnknownRoutes, takeUnknownRoutes, UnknownRouteError } from "../support/unknown-route-guard.js";
import { api, startTestSimulator, type TestSim } from "./harness.js";

describe("the unknown-route guard", () => {
  let t: TestSim;
  beforeAll(async () => {
    t = await startTestSimulator();
  });
  afterAll(() => t.sim.close());

  it("reports each unknown route the simulator recorded, once", async () => {
    expect(() => assertNoUnknownRoutes(t.sim)).not.toThrow();
    expect((await api(t, "GET", "/nodes/pve1/hosts")).status).toBe(501);
    expect((await api(t, "POST", "/cluster/no-such-thing")).status).toBe(501);
    let error: unknown;
    try {
      assertNoUnknownRoutes(t.sim);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownRouteError);
    expect((error as UnknownRouteError).routes.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /nodes/pve1/hosts", "POST /cluster/no-such-thing"]);
    expect((error as Error).message).toContain("GET /nodes/pve1/hosts, POST /cluster/no-such-thing");
    // Already reported: the next check (the next test) is not blamed for them.
    expect(takeUnknownRoutes(t.sim)).toEqual([]);
    expect((await api(t, "GET", "/version")).status).toBe(200);
    expect(() => assertNoUnknownRoutes(t.sim)).not.toThrow();
  });

  it("fails the test that called an unknown route, and not the next one", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "ptm-guard-"));
    try {
      const report = path.join(out, "report.json");
      const child = spawnSync(
        process.execPath,
        [path.join(repoRoot, "node_modules/vitest/vitest.mjs"), "run", "--config", path.join(import.meta.dirname, "fixtures/vitest.config.ts"), "--reporter=json", `--outputFile=${report}`],
        { cwd: path.join(import.meta.dirname, "fixtures"), encoding: "utf8", env: { ...process.env, VITEST: undefined, VITEST_POOL_ID: undefined, VITEST_WORKER_ID: undefined } },
      );
      expect(child.status, child.stdout + child.stderr).toBe(1);
      const results = JSON.parse(await readFile(report, "utf8")) as {
        testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
      };
      const byTitle = Object.fromEntries(results.testResults.flatMap((f) => f.assertionResults).map((r) => [r.title, r]));
      expect(Object.keys(byTitle).sort()).toEqual(["calls a route the simulator does not know", "calls only routes the simulator knows"]);
      expect(byTitle["calls a route the simulator does not know"]!.status).toBe("failed");
      expect(byTitle["calls a route the simulator does not know"]!.failureMessages.join("\n")).toContain("does not implement (answered 501): GET /nodes/pve1/no-such-thing.");
      expect(byTitle["calls only routes the simulator knows"]!.status).toBe("passed");
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
