import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { execFile } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVE_ANNOTATION } from "../../src/api/group.js";
import { vmManifest } from "../http/vm-manifest.js";
import { kubectl } from "../support/kube.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";
import { PtmProcess, ptm } from "./ptm-process.js";

/**
 * `kubectl ptm` against a running operator (controller, worker and sidecar in one App) on the
 * real platform: the executable is started as a user starts it, once with the sidecar's URL and
 * token, once with only a kubeconfig.
 */
const execFileAsync = promisify(execFile);
const READ = `read-${randomUUID()}`;
const ADMIN = `admin-${randomUUID()}`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON printed by the CLI, checked field by field
type Json = any;

describe.sequential("kubectl ptm against a running operator", () => {
  const h = new OperatorHarness({ sidecar: true, env: { PTM_SIDECAR_READ_TOKEN: READ, PTM_SIDECAR_ADMIN_TOKEN: ADMIN } });
  guardOperatorHarness(h);
  const ns = () => h.namespace;
  /** The sidecar's URL and a token, as a user exports them. */
  const sidecar = (token = READ) => ({ PTM_SERVER: h.sidecarUrl, PTM_TOKEN: token });

  async function api(path: string): Promise<Json> {
    const res = await fetch(`${h.sidecarUrl}/api/v1${path}`, { headers: { Authorization: `Bearer ${READ}` } });
    expect(res.status, path).toBe(200);
    return res.json();
  }

  beforeAll(async () => {
    await h.start();
    await h.apply(vmManifest("web"));
    await h.waitForReady("web", 1);
    // The sidecar's informer may be a moment behind the API server.
    await waitFor("the sidecar to show web Ready", async () => (await api(`/vms?namespace=${ns()}`)).items[0]?.status?.observedGeneration === 1);
  });
  afterAll(() => h.close());

  it("get lists the VM with node, id, state, readiness and its connection's health, from the sidecar or the cluster", async () => {
    const vm = (await h.getVm("web"))!;
    const table = await ptm(["get", "-n", ns()], sidecar());
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split("\n");
    expect(header!.split(/\s{2,}/)).toEqual(["NAME", "NODE", "VMID", "STATE", "IP", "READY", "CONNECTION", "AGE"]);
    expect(row!.split(/\s{2,}/).slice(0, 7)).toEqual(["web", "pve1", String(vm.status!.vmId), "Running", vm.status!.ipAddresses?.[0] ?? "<none>", "True", "pve (Ready)"]);
    expect(rest).toEqual([]);

    const json = await ptm(["get", "-n", ns(), "-o", "json"], sidecar());
    expect(json.code).toBe(0);
    const fromSidecar = JSON.parse(json.stdout) as Json;
    expect(fromSidecar.items).toHaveLength(1);
    expect(fromSidecar.items[0]).toMatchObject({
      namespace: ns(),
      name: "web",
      node: "pve1",
      vmId: vm.status!.vmId,
      state: "Running",
      ready: { status: "True", reason: "Provisioned" },
      connection: { name: "pve", ready: "True", reason: "Connected" },
      lastRun: { action: "apply", result: "succeeded" },
    });

    // No sidecar URL: the same rows, read through the kubeconfig.
    const fromCluster = JSON.parse((await ptm(["get", "web", "-n", ns(), "-o", "json"])).stdout) as Json;
    expect(fromCluster).toEqual(fromSidecar.items[0]);
    const yaml = await ptm(["get", "web", "-n", ns(), "-o", "yaml"]);
    expect(yaml.stdout).toContain("name: web\n");
  });

  it("connections lists the connection with its health", async () => {
    for (const env of [sidecar(), {}]) {
      const res = await ptm(["connections", "-n", ns(), "-o", "json"], env);
      expect(res.code).toBe(0);
      const items = (JSON.parse(res.stdout) as Json).items;
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ namespace: ns(), name: "pve", endpoint: h.sim.url, ready: { status: "True", reason: "Connected" } });
    }
    // Installed as kubectl installs plugins: kubectl-ptm on the PATH makes `kubectl ptm`.
    const env = platformEnv();
    const viaKubectl = await execFileAsync("kubectl", ["ptm", "connections", "-n", ns(), "-o", "json"], {
      env: { PATH: `${path.join(repoRoot, "bin")}:${env.PATH}`, HOME: process.env.HOME ?? "/tmp", KUBECONFIG: env.KUBECONFIG },
    });
    expect((JSON.parse(viaKubectl.stdout) as Json).items.map((c: Json) => c.name)).toEqual(["pve"]);
    const table = await ptm(["connections", "-n", ns()], sidecar());
    expect(table.stdout).toMatch(/^NAME\s+ENDPOINT\s+VERSION\s+NODES\s+READY\s+REASON\s+CHECKED\n/);
    expect(table.stdout).toMatch(/\npve\s+https:\/\/\S+\s+\S+\s+\d+\/\d+\s+True\s+Connected\s/);
  });

  it("says which ProxmoxVM does not exist (exit 3), through the sidecar and through the cluster", async () => {
    for (const [args, env] of [
      [["get", "ghost"], sidecar()],
      [["get", "ghost"], {}],
      [["logs", "ghost"], sidecar()],
      [["plan", "ghost"], sidecar()],
      [["approve", "ghost"], {}],
      [["reconcile", "ghost"], sidecar(ADMIN)],
    ] as [string[], Record<string, string>][]) {
      const res = await ptm([...args, "-n", ns()], env);
      expect({ args, code: res.code, stderr: res.stderr }).toEqual({ args, code: 3, stderr: `error: no ProxmoxVM ${ns()}/ghost\n` });
    }
  });

  it("says which flag or variable to set for a missing or refused token (exit 4), and the URL it cannot reach (exit 5)", async () => {
    const missing = await ptm(["get", "-n", ns()], { PTM_SERVER: h.sidecarUrl });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe(`error: the sidecar at ${h.sidecarUrl} needs a token: pass --token or set PTM_TOKEN (its read token; the admin token for approve, discard and reconcile)\n`);
    const wrong = await ptm(["get", "-n", ns(), "--token", "not-the-token"], { PTM_SERVER: h.sidecarUrl });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toBe(`error: the sidecar at ${h.sidecarUrl} refused the token in --token/PTM_TOKEN: the bearer token is not valid\n`);
    const readOnly = await ptm(["reconcile", "web", "-n", ns()], sidecar(READ));
    expect(readOnly.code).toBe(4);
    expect(readOnly.stderr).toBe("error: the read token cannot change anything; use the admin token: pass the sidecar's admin token in --token or PTM_TOKEN\n");

    const nobody = await closedPort();
    const closed = await ptm(["get", "-n", ns(), "--server", `http://127.0.0.1:${nobody}`], { PTM_TOKEN: READ });
    expect(closed.code).toBe(5);
    expect(closed.stderr).toBe(`error: cannot reach the sidecar at http://127.0.0.1:${nobody} (ECONNREFUSED): check --server or PTM_SERVER\n`);
    const noSidecar = await ptm(["logs", "web", "-n", ns()]);
    expect(noSidecar.code).toBe(2);
    expect(noSidecar.stderr).toMatch(/^error: logs needs the sidecar: give its URL with --server or PTM_SERVER/);
  });

  it("logs --follow streams a run's log live to its end and exits 0; runs lists it", async () => {
    const [before] = (await api(`/runs?namespace=${ns()}&name=web&limit=1`)).items;
    // A run is one tofu process of well under a second here: slow Proxmox's answers so the
    // follower starts while the run still works, as it would against a real Proxmox.
    h.sim.setFaults({ latencyMs: 800 });
    try {
      await h.apply(vmManifest("web", { memory: { dedicated: 1024 } }));
      const run = await waitFor("the memory change's run to be recorded", async () => {
        const [latest] = (await api(`/runs?namespace=${ns()}&name=web&limit=1`)).items;
        return latest && latest.id !== before.id ? latest : undefined;
      });
      const follower = new PtmProcess(["logs", "web", "-n", ns(), "--follow", "-o", "json"], sidecar());
      await follower.firstLine();
      const statusAtFirstLine = (await api(`/runs/${run.id}`)).status;
      const result = await follower.exited;
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      // The follower printed while the run still worked, and stayed until it ended.
      expect(["queued", "running"]).toContain(statusAtFirstLine);
      const finished = await api(`/runs/${run.id}`);
      expect(finished.status).toBe("succeeded");
      // Every line of the run once, in order: the API's copy of the log.
      const printed = result.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Json);
      const stored = (await api(`/runs/${run.id}/events`)).items;
      expect(printed.map((l) => l.seq)).toEqual(stored.map((l: Json) => l.seq));
      expect(printed.map((l) => l.message)).toEqual(stored.map((l: Json) => l.message));
      expect(printed.at(-1).message).toMatch(/^applied: 0 added, 1 changed/);
    } finally {
      h.sim.setFaults({ latencyMs: 0 });
    }

    const text = await ptm(["logs", "web", "-n", ns()], sidecar());
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z info {2}apply run started/);

    const runs = await ptm(["runs", "web", "-n", ns(), "-o", "json"], sidecar());
    const items = (JSON.parse(runs.stdout) as Json).items;
    expect(items.map((r: Json) => [r.action, r.status, r.generation])).toEqual([
      ["apply", "succeeded", 2],
      ["apply", "succeeded", 1],
    ]);
    const table = await ptm(["runs", "web", "-n", ns()], sidecar());
    expect(table.stdout.split("\n")[1]).toMatch(new RegExp(`^${items[0].id}\\s+apply\\s+succeeded\\s+\\S+\\s+\\+0 ~1 -0\\s`));
  });

  it("reconcile queues a run with the admin token", async () => {
    const before = (await api(`/runs?namespace=${ns()}&name=web`)).items.length;
    const res = await ptm(["reconcile", "web", "-n", ns()], sidecar(ADMIN));
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`ProxmoxVM ${ns()}/web: a run is queued\n`);
    const run = await waitFor("the manual run to finish", async () => {
      const { items } = await api(`/runs?namespace=${ns()}&name=web`);
      return items.length > before && ["succeeded", "no_changes"].includes(items[0].status) ? items[0] : undefined;
    });
    expect(run.reason).toBe("manual");
  });

  it("plan shows a pending plan's diff; approve applies it, through the cluster and through the sidecar", async () => {
    await h.apply(vmManifest("gated", { approval: "Manual" }));
    const waiting = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined);
    const pending = waiting!.status!.pendingApproval!;

    // Only a kubeconfig: the status's summary of the plan.
    const summary = await ptm(["plan", "gated", "-n", ns()]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toContain(`Plan of run ${pending.runId} for ProxmoxVM ${ns()}/gated: waits for approval`);
    expect(summary.stdout).toContain("1 to add, 0 to change, 0 to destroy");

    // The sidecar: the whole diff tofu planned.
    const diff = await ptm(["plan", "gated", "-n", ns(), "-o", "json"], sidecar());
    expect(diff.code).toBe(0);
    const planned = JSON.parse(diff.stdout) as Json;
    expect(planned).toMatchObject({ pending: true, plan: { runId: pending.runId } });
    const vmResource = planned.plan.planned.resources.find((r: Json) => r.address.startsWith("proxmox_virtual_environment_vm."));
    expect(vmResource.actions).toEqual(["create"]);
    const text = (await ptm(["plan", "gated", "-n", ns()], sidecar())).stdout;
    expect(text).toContain("Planned by tofu: 1 to add, 0 to change, 0 to destroy");
    expect(text).toMatch(/\n {2}\+ proxmox_virtual_environment_vm\.\S+ \(create\)\n/);

    const wrongRun = await ptm(["approve", "gated", "-n", ns(), "--run", randomUUID()]);
    expect(wrongRun.code).toBe(1);
    expect(wrongRun.stderr).toMatch(/is not the plan that waits for approval/);
    const approved = await ptm(["approve", "gated", "-n", ns()]);
    expect(approved.stderr).toBe("");
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`approved the plan of run ${pending.runId}`);
    const annotated = JSON.parse(await kubectl(["get", "-n", ns(), "pvm", "gated", "-o", "json", "--show-managed-fields"])) as Json;
    expect(annotated.metadata.annotations[APPROVE_ANNOTATION]).toBe(pending.hash);
    expect(annotated.metadata.managedFields.map((f: Json) => f.manager)).toContain("kubectl-ptm");
    await h.waitForReady("gated", 1);
    const again = await ptm(["approve", "gated", "-n", ns()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: ProxmoxVM ${ns()}/gated has no plan waiting for approval\n`);

    // A change: the diff names the attribute, before and after.
    await h.apply(vmManifest("gated", { approval: "Manual", memory: { dedicated: 768 } }));
    const second = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined && v.metadata.generation === 2);
    const change = await ptm(["plan", "gated", "-n", ns()], sidecar());
    expect(change.code).toBe(0);
    expect(change.stdout).toContain(`Plan of run ${second!.status!.pendingApproval!.runId} for ProxmoxVM ${ns()}/gated: waits for approval`);
    expect(change.stdout).toContain("Planned by tofu: 0 to add, 1 to change, 0 to destroy");
    expect(change.stdout).toMatch(/~ memory\S*dedicated: 512 → 768/);

    // discard through the sidecar: nothing is applied, and the plan is no longer pending.
    const memory = () => Number(h.simVms().find((v) => v.vmid === second!.status!.vmId)!.conf.memory);
    const discardRun = second!.status!.pendingApproval!.runId;
    const discarded = await ptm(["discard", "gated", "-n", ns()], sidecar(ADMIN));
    expect(discarded.stderr).toBe("");
    expect(discarded.code).toBe(0);
    expect(discarded.stdout).toContain(`plan ${discardRun} discarded`);
    await h.waitForVm("gated", (v) => v?.status?.conditions?.some((c) => c.type === "Reconciling" && c.reason === "PlanDiscarded") === true);
    expect(memory()).toBe(512);
    const afterDiscard = JSON.parse((await ptm(["plan", "gated", "-n", ns(), "-o", "json"], sidecar())).stdout) as Json;
    expect(afterDiscard.pending).toBe(false);

    // approve through the sidecar: a new change is applied.
    await h.apply(vmManifest("gated", { approval: "Manual", memory: { dedicated: 896 } }));
    const third = await h.waitForVm("gated", (v) => v?.status?.pendingPlan !== undefined && v.metadata.generation === 3);
    const viaSidecar = await ptm(["approve", "gated", "-n", ns(), "--run", third!.status!.pendingPlan!.runId], sidecar(ADMIN));
    expect(viaSidecar.stderr).toBe("");
    expect(viaSidecar.code).toBe(0);
    expect(viaSidecar.stdout).toContain(`plan ${third!.status!.pendingPlan!.runId} approved`);
    await h.waitForReady("gated", 3);
    expect(memory()).toBe(896);
  });
});

/** A local port nothing listens on: taken from the kernel, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}
