import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { DEFAULT_SEED, startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { synthesizeVmStack, workspaceName } from "../../src/synth/synthesize.js";
import { dropSchemas } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { tofu, tofuWorkdir, type TofuResult } from "../support/tofu.js";
import { minimal, spec, SSH_KEY, synthesisInput } from "./vm-specs.js";

/** Everything the simulator's seed can host: one node, local-lvm, vmbr0/vmbr1, pool "web". */
const rich = spec({
  nodeName: "pve1",
  description: "managed by ptm",
  tags: ["web", "prod"],
  clone: { vmId: 9000, full: true, datastoreId: "local-lvm" },
  cpu: { cores: 2, sockets: 1, type: "x86-64-v2-AES" },
  memory: { dedicated: 2048, floating: 1024 },
  disks: [
    { interface: "scsi0", datastoreId: "local-lvm", size: 20, ssd: true, discard: "on", iothread: true },
    { interface: "scsi1", datastoreId: "local-lvm", size: 5 },
  ],
  networkDevices: [{ bridge: "vmbr0" }, { bridge: "vmbr1", model: "e1000", vlanId: 10, macAddress: "BC:24:11:00:00:01", firewall: true, mtu: 1500 }],
  initialization: {
    datastoreId: "local-lvm",
    userAccount: { username: "ubuntu", keys: [SSH_KEY], passwordSecretRef: { name: "web-password", key: "password" } },
    ipConfigs: [{ ipv4: { address: "dhcp" } }, { ipv4: { address: "192.0.2.10/24", gateway: "192.0.2.1" } }],
    dns: { servers: ["192.0.2.53"], domain: "example.internal" },
  },
  agent: { enabled: true, timeout: "2m" },
  started: true,
  onBoot: true,
  poolId: "web",
});

function explain(result: TofuResult): string {
  return `exit ${result.code}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`;
}

/**
 * The whole runner path with a synthesized stack: pg backend from PG_CONN_STR, one workspace per
 * VM, provider settings and the cloud-init password from the environment, against the Proxmox VE
 * simulator. A second plan must be empty: a mapping that the provider reads back differently
 * (e.g. the explicit nulls in network_device) would otherwise show up as perpetual drift.
 */
describe("a synthesized stack applies and then plans no changes", () => {
  const schema = `ptm_synth_${randomUUID().replaceAll("-", "")}`;
  const dirs: string[] = [];
  let sim: RunningSimulator;
  guardUnknownRoutes(() => [sim]);
  let env: Record<string, string>;

  beforeAll(async () => {
    delete process.env.TF_WORKSPACE;
    sim = await startSimulator({
      config: { ...DEFAULT_SEED, nodes: [{ name: "pve1", cpus: 8, memoryGiB: 64, bridges: ["vmbr0", "vmbr1"] }], pools: [{ id: "web" }] },
      unauthorizedDelayMs: 0,
      taskDurationMs: 0,
      bootDelayMs: 0,
      log: false,
    });
    const db = new URL(platformEnv().DATABASE_URL);
    db.searchParams.set("sslmode", "disable"); // lib/pq defaults to require; the platform has no TLS
    env = {
      PG_CONN_STR: db.toString(),
      PROXMOX_VE_ENDPOINT: sim.url,
      PROXMOX_VE_API_TOKEN: sim.token,
      PROXMOX_VE_INSECURE: "true",
      TF_VAR_cloud_init_password: "not-a-real-password",
    };
  });

  afterAll(async () => {
    await sim?.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    await dropSchemas(schema);
  });

  it.each([
    ["minimal", minimal, "db-0"],
    ["every field", rich, "web-1"],
  ])("%s", async (_case, vmSpec, name) => {
    const result = synthesizeVmStack(
      synthesisInput(vmSpec, { name, stateSchema: schema, providerVersion: platformEnv().PTM_PROVIDER_VERSION }),
    );
    const dir = await tofuWorkdir({}, "ptm-synth-apply-");
    dirs.push(dir);
    await writeFile(path.join(dir, "main.tf.json"), result.json);

    const steps: string[][] = [
      ["init", "-input=false", "-no-color"],
      ["workspace", "new", "-no-color", workspaceName("team-a", name)],
      ["apply", "-auto-approve", "-input=false", "-no-color"],
    ];
    for (const args of steps) {
      const step = await tofu(dir, args, env);
      expect(step.code, `tofu ${args[0]}: ${explain(step)}`).toBe(0);
    }

    const plan = await tofu(dir, ["plan", "-detailed-exitcode", "-input=false", "-no-color"], env);
    expect(plan.code, explain(plan)).toBe(0);

    const outputs = JSON.parse((await tofu(dir, ["output", "-json"], env)).stdout) as Record<string, { value: unknown }>;
    expect(outputs.node_name?.value).toBe("pve1");
    expect(outputs.vm_id?.value).toEqual(expect.any(Number));
    for (const address of outputs.ipv4_addresses?.value as string[]) expect(address).not.toMatch(/^127\./);

    // Every stack but a deletion's carries prevent_destroy: tofu refuses to destroy the VM with it.
    const refused = await tofu(dir, ["destroy", "-auto-approve", "-input=false", "-no-color"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toContain("Resource instance cannot be destroyed");
    expect(Object.keys(sim.state().vms).map(Number)).toContain(outputs.vm_id?.value);

    const deletion = synthesizeVmStack(
      synthesisInput(vmSpec, { name, stateSchema: schema, providerVersion: platformEnv().PTM_PROVIDER_VERSION, allowDestroy: true }),
    );
    await writeFile(path.join(dir, "main.tf.json"), deletion.json);
    const destroy = await tofu(dir, ["destroy", "-auto-approve", "-input=false", "-no-color"], env);
    expect(destroy.code, explain(destroy)).toBe(0);
  });
});
