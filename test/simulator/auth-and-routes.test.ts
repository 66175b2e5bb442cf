/**
 * The provider is refused with a wrong token (HTTP 401, as Proxmox answers), and a route the
 * simulator does not implement answers 501, is recorded, and fails the test run's guard.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import {
  clonedVm,
  api,
  expectNoUnknownRoutes,
  initWorkdir,
  run,
  startTestSimulator,
  tfConfig,
  type TestSim,
} from "./harness.js";

describe("authentication and unknown routes", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const dirs: string[] = [];

  beforeAll(async () => {
    // the real 3 s delay Proxmox puts on every unauthorized answer
    t = await startTestSimulator({ unauthorizedDelayMs: 3000 });
  });

  afterAll(async () => {
    await t.sim.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("refuses the provider when the token secret is wrong", async () => {
    // an explicit vm_id: without it the provider's ID generator retries for 6 s first
    const dir = await initWorkdir(tfConfig({ vm: clonedVm({ vm_id: 4241 }) }), t.env);
    dirs.push(dir);
    const wrong = { ...t.env, PROXMOX_VE_API_TOKEN: `${t.sim.tokenId}=00000000-0000-0000-0000-000000000000` };
    const apply = await run(dir, ["apply", "-auto-approve"], wrong);
    expect(apply.code).not.toBe(0);
    expect(apply.stderr + apply.stdout).toMatch(/HTTP 401 response - Reason: Authentication\s+failed!/);
    expect(Object.keys(t.sim.state().vms)).toEqual(["9000"]);

    // a token id the simulator does not know, with the right secret, is refused too
    const dir2 = await initWorkdir(tfConfig({ vm: clonedVm({ vm_id: 4242 }) }), t.env);
    dirs.push(dir2);
    const unknownUser = { ...t.env, PROXMOX_VE_API_TOKEN: `nobody@pve!x=${t.sim.token.split("=")[1]}` };
    const again = await run(dir2, ["apply", "-auto-approve"], unknownUser);
    expect(again.code).not.toBe(0);
    expect(again.stderr + again.stdout).toMatch(/HTTP 401 response - Reason: Authentication\s+failed!/);
    expect(t.sim.state().vms[4242]).toBeUndefined();
  });

  it("holds back a refused request, as Proxmox does, while it answers others", async () => {
    // Order, not a clock: a good request sent after a refused one is answered first.
    const answered: string[] = [];
    const refused = api(t, "GET", "/version", undefined, `${t.sim.tokenId}=wrong-secret`).then((res) => answered.push(`refused ${res.status}`));
    await new Promise((r) => setImmediate(r));
    const accepted = api(t, "GET", "/version").then((res) => answered.push(`accepted ${res.status}`));
    await Promise.all([refused, accepted]);
    expect(answered).toEqual(["accepted 200", "refused 401"]);
  });

  it("answers 501 for a route it does not know, records it, and the guard fails", async () => {
    const dir = await initWorkdir(
      {
        ...tfConfig({}),
        resource: undefined,
        data: { proxmox_virtual_environment_hosts: { h: { node_name: "pve1" } } },
      },
      t.env,
    );
    dirs.push(dir);
    const plan = await run(dir, ["plan"], t.env);
    expect(plan.code).not.toBe(0);
    expect(plan.stderr + plan.stdout).toContain("HTTP 501");
    expect(t.sim.unknownRoutes()).toEqual([expect.objectContaining({ method: "GET", path: "/nodes/pve1/hosts" })]);
    expect(t.logs.some((l) => l.includes("UNKNOWN ROUTE: GET /nodes/pve1/hosts"))).toBe(true);
    expect(() => expectNoUnknownRoutes(t)).toThrow(/does not implement \(answered 501\): GET \/nodes\/pve1\/hosts\./);
    // Reported once: the guard after this test finds nothing new.
    expect(() => expectNoUnknownRoutes(t)).not.toThrow();
  });
});
