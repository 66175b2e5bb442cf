import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { synthesizeVmStack } from "../../src/synth/synthesize.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { KNOWN_AFTER_APPLY, SENSITIVE, type TerraformRunner } from "../../src/terraform/index.js";
import { platformEnv } from "../support/platform-env.js";
import { spec } from "../synth/vm-specs.js";
import { makeRunner, pgConnStr, removeTempDirs, runFor, schemasDroppedAfterAll } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();
const PASSWORD = "plan-diff-password-0x5f3a";

/** A real plan of the real provider against the simulator, reduced to what changes. */
describe("TerraformRunner.showPlan", () => {
  let sim: RunningSimulator;
  let runner: TerraformRunner;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, taskDurationMs: 0, log: false, unauthorizedDelayMs: 0 });
    runner = await makeRunner();
  });
  afterAll(async () => {
    await sim?.close();
    await removeTempDirs();
  });

  const stackFor = (schema: string, memory: number, nodeName = "pve1") =>
    synthesizeVmStack({
      namespace: "ns",
      name: "diffed",
      spec: spec({
        nodeName,
        vmId: 812,
        clone: { vmId: 9000, nodeName: "pve1" },
        memory: { dedicated: memory },
        initialization: { userAccount: { username: "ubuntu", passwordSecretRef: { name: "pw", key: "password" } } },
        allowReplacement: true,
      }),
      providerVersion: platformEnv().PTM_PROVIDER_VERSION,
      toolVersion: "tofu test",
      stateSchema: schema,
      allowDestroy: true,
    });

  it("names the changed attribute with before and after, masks the password, and calls out a replacement", async () => {
    const schema = newSchema();
    const env = { PG_CONN_STR: pgConnStr(), PROXMOX_VE_ENDPOINT: sim.url, PROXMOX_VE_API_TOKEN: sim.token, PROXMOX_VE_INSECURE: "true", TF_VAR_cloud_init_password: PASSWORD };
    const first = runFor(schema, stackFor(schema, 2048).json, { env, secrets: [sim.token, PASSWORD] });
    await runner.prepare(first);
    const created = await runner.plan(first);
    const createShown = await runner.showPlan(first, created.planFile!);
    expect(createShown.resources.map((r) => [r.address, r.actions])).toEqual([["proxmox_virtual_environment_vm.vm", ["create"]]]);
    const createChanges = createShown.resources[0]!.changes;
    expect(createChanges).toContainEqual({ path: "memory.dedicated", action: "add", before: null, after: 2048 });
    expect(createChanges.find((c) => c.path === "initialization.user_account.password")).toMatchObject({ after: SENSITIVE });
    expect(createChanges.some((c) => c.after === KNOWN_AFTER_APPLY)).toBe(true);
    expect(JSON.stringify(createShown)).not.toContain(PASSWORD);
    await runner.apply(first, created.planFile!);

    const more = { ...first, configJson: stackFor(schema, 3072).json };
    await runner.prepare(more);
    const updated = await runner.plan(more);
    const updateShown = await runner.showPlan(more, updated.planFile!);
    expect(updateShown.resources).toHaveLength(1);
    expect(updateShown.resources[0]).toMatchObject({ actions: ["update"], replace: false });
    expect(updateShown.resources[0]!.changes.filter((c) => c.after !== KNOWN_AFTER_APPLY)).toEqual([{ path: "memory.dedicated", action: "change", before: 2048, after: 3072 }]);
    await runner.discardPlan(updated.planFile!);

    const moved = { ...first, configJson: stackFor(schema, 2048, "pve2").json };
    await runner.prepare(moved);
    const replaced = await runner.plan(moved);
    const replaceShown = await runner.showPlan(moved, replaced.planFile!);
    expect(replaceShown.resources[0]).toMatchObject({ actions: ["delete", "create"], replace: true });
    expect(replaceShown.resources[0]!.replacedBy).toContain("node_name");
    expect(replaceShown.resources[0]!.changes).toContainEqual({ path: "node_name", action: "change", before: "pve1", after: "pve2" });
    expect(JSON.stringify(replaceShown)).not.toContain(PASSWORD);
    await runner.discardPlan(replaced.planFile!);
  });
});
