/**
 * The real provider through real tofu: a disk whose datastore differs from the template's is
 * moved with move_disk after the clone; and a token holding only the operator's required
 * privileges (src/api/required-privileges.ts) applies, plans clean and destroys a VM.
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_ROLE_PRIVILEGES } from "../../src/api/required-privileges.js";
import { DEFAULT_SEED } from "../../src/simulator/index.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { clonedVm, explain, expectNoUnknownRoutes, initWorkdir, run, startTestSimulator, tfConfig, type TestSim } from "./harness.js";

const OPERATOR = { id: "ptm@pve!operator", secret: "33333333-3333-3333-3333-333333333333" };

describe("move_disk and the operator's privileges, through the provider", () => {
  let t: TestSim;
  guardUnknownRoutes(() => [t?.sim]);
  const dirs: string[] = [];

  beforeAll(async () => {
    t = await startTestSimulator({
      config: {
        ...DEFAULT_SEED,
        storages: [...(DEFAULT_SEED.storages ?? []), { id: "fast", type: "lvmthin", content: ["images"], sizeGiB: 200 }],
        tokens: [{ id: "root@pam!admin", secret: "44444444-4444-4444-4444-444444444444", privsep: false }, OPERATOR],
        users: [{ id: "ptm@pve" }],
        roles: [{ id: "PTMOperator", privs: [...OPERATOR_ROLE_PRIVILEGES] }],
        acl: [
          { path: "/", role: "PTMOperator", user: "ptm@pve" },
          { path: "/", role: "PTMOperator", token: OPERATOR.id },
        ],
      },
    });
  });

  afterAll(async () => {
    await t?.sim.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("moves a cloned disk to the datastore the config names, with the operator's token only", async () => {
    const env = { ...t.env, PROXMOX_VE_API_TOKEN: `${OPERATOR.id}=${OPERATOR.secret}` };
    const vm = clonedVm({
      vm_id: 4301,
      disk: [{ datastore_id: "fast", interface: "scsi0", size: 20 }],
    });
    const dir = await initWorkdir(tfConfig({ vm }), env);
    dirs.push(dir);
    const apply = await run(dir, ["apply", "-auto-approve"], env);
    expect(apply.code, explain(apply)).toBe(0);
    const conf = t.sim.state().vms[4301]?.conf ?? {};
    expect(conf.scsi0).toMatch(/^fast:vm-4301-disk-\d+,/);
    expect(t.sim.calls().find((c) => c.route === "/nodes/{node}/qemu/{vmid}/move_disk")?.count).toBe(1);
    const plan = await run(dir, ["plan", "-detailed-exitcode"], env);
    expect(plan.code, explain(plan)).toBe(0);
    const destroy = await run(dir, ["destroy", "-auto-approve"], env);
    expect(destroy.code, explain(destroy)).toBe(0);
    expect(t.sim.state().vms[4301]).toBeUndefined();
    expectNoUnknownRoutes(t);
  });
});
