/**
 * Test harness for running the real bpg/proxmox provider, via the platform's real tofu, against
 * an in-process Proxmox VE simulator. Suites that start one register
 * `guardUnknownRoutes(() => [t?.sim])` (test/support/suite-hooks.ts).
 */
import { simApi, waitForTask } from "../support/proxmox-call.js";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startSimulator, type RunningSimulator, type SimulatorOptions } from "../../src/simulator/index.js";
import { repoRoot } from "../support/paths.js";
import { assertNoUnknownRoutes } from "../support/unknown-route-guard.js";
import { platformEnv } from "../support/platform-env.js";
import { tofu, tofuWorkdir, type TofuResult } from "../support/tofu.js";

export const SSH_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPedy3AxFypkG7Q2nbyIl2u1+e7dJHJMwToygb7aQTRi ptm@test";

export interface TestSim {
  sim: RunningSimulator;
  logs: string[];
  /** Provider environment: endpoint, token, insecure TLS. */
  env: Record<string, string>;
}

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<TestSim> {
  const logs: string[] = [];
  const sim = await startSimulator({ unauthorizedDelayMs: 0, ...options, log: (line) => logs.push(line) });
  return {
    sim,
    logs,
    env: { PROXMOX_VE_ENDPOINT: sim.url, PROXMOX_VE_API_TOKEN: sim.token, PROXMOX_VE_INSECURE: "true" },
  };
}

/** A `network_device` entry: in bpg 0.111 it is an attribute list, so JSON must give every field. */
export function networkDevice(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bridge: "vmbr0",
    disconnected: false,
    enabled: null,
    firewall: false,
    mac_address: null,
    model: "virtio",
    mtu: 0,
    queues: 0,
    rate_limit: 0,
    trunks: "",
    vlan_id: 0,
    ...fields,
  };
}

export function tfConfig(vms: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const version = platformEnv().PTM_PROVIDER_VERSION || "0.111.1";
  return {
    terraform: { required_providers: { proxmox: { source: "bpg/proxmox", version } } },
    provider: { proxmox: {} },
    resource: { proxmox_virtual_environment_vm: vms },
    ...extra,
  };
}

/** The VM the lifecycle tests apply: a clone of template 9000 with every commonly used block. */
export function clonedVm(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "web-1",
    node_name: "pve1",
    description: "managed by ptm",
    tags: ["ptm", "test"],
    on_boot: true,
    clone: { vm_id: 9000, full: true },
    cpu: { cores: 2, type: "x86-64-v2-AES" },
    memory: { dedicated: 2048 },
    agent: { enabled: true },
    disk: [
      { datastore_id: "local-lvm", interface: "scsi0", size: 20 },
      { datastore_id: "local-lvm", interface: "scsi1", size: 10 },
    ],
    network_device: [networkDevice({ vlan_id: 10 })],
    initialization: {
      datastore_id: "local-lvm",
      user_account: { username: "ubuntu", keys: [SSH_KEY] },
      ip_config: [{ ipv4: { address: "192.168.10.20/24", gateway: "192.168.10.1" } }],
      dns: { servers: ["1.1.1.1", "8.8.8.8"], domain: "example.internal" },
    },
    started: true,
    ...overrides,
  };
}

/** A work directory with the config, `tofu init` done (offline, from the platform's mirror). */
export async function initWorkdir(config: unknown, env: Record<string, string>): Promise<string> {
  const dir = await tofuWorkdir(config, "ptm-sim-");
  const init = await tofu(dir, ["init", "-input=false", "-no-color"], env);
  if (init.code !== 0) throw new Error(`tofu init failed:\n${init.stdout}\n${init.stderr}`);
  return dir;
}

export async function rewriteConfig(dir: string, config: unknown): Promise<void> {
  await writeFile(path.join(dir, "main.tf.json"), JSON.stringify(config, null, 2));
}

export function run(dir: string, args: string[], env: Record<string, string>): Promise<TofuResult> {
  const [command, ...rest] = args;
  return tofu(dir, [command as string, "-input=false", "-no-color", ...rest], env);
}

export function explain(result: TofuResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout.slice(-6000)}\n--- stderr\n${result.stderr.slice(-6000)}`;
}

/** Fails the test now if the provider called a route the simulator does not implement (the shared guard). */
export function expectNoUnknownRoutes(t: TestSim): void {
  assertNoUnknownRoutes(t.sim);
}

/** Saves the routes the provider called to test/artifacts/ (for docs and reports). */
export async function saveCalls(t: TestSim, name: string): Promise<void> {
  const dir = path.join(repoRoot, "test", "artifacts");
  await mkdir(dir, { recursive: true });
  const calls = t.sim.calls().sort((a, b) => a.route.localeCompare(b.route) || a.method.localeCompare(b.method));
  await writeFile(path.join(dir, `simulator-calls-${name}.json`), JSON.stringify(calls, null, 2));
}

/** The API as a test client sees it (fetch with the simulator's token, TLS check off for its cert). */
export function api(t: TestSim, method: string, apiPath: string, body?: Record<string, string>, token = t.sim.token) {
  return simApi(t.sim, method, apiPath, body, token);
}

/** Polls a task until it stops; returns its final status. */
export function waitTask(t: TestSim, _node: string, upid: string): Promise<{ status: string; exitstatus?: string }> {
  return waitForTask(t.sim, upid);
}
