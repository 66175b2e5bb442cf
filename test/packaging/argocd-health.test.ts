import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { parse, parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";

// The Argo CD health check (examples/argocd/health.lua) run by the real gopher-lua runner over
// ProxmoxVM objects captured from a real operator, plus the examples' structure and the claim
// that server-side apply needs no ignoreDifferences. Captures go to test/artifacts/argocd/:
//   argocd-lua-health examples/argocd/health.lua < test/artifacts/argocd/healthy.json

const execFileAsync = promisify(execFile);
const exampleDir = path.join(repoRoot, "examples/argocd");
const healthScript = path.join(exampleDir, "health.lua");
const artifactDir = path.join(repoRoot, "test/artifacts/argocd");
const HEALTH_KEY = "resource.customizations.health.proxmox.terraform-manager.dev_ProxmoxVM";
const APPROVE = "proxmox.terraform-manager.dev/approve";
// Argo CD's field manager for ServerSideApply=true syncs (`kubectl apply --server-side --force-conflicts`).
const ARGOCD_MANAGER = "argocd-controller";
const OPERATOR_MANAGER = "proxmox-terraform-manager";

interface Health {
  status: string;
  message: string;
}

/** Evaluates health.lua on one object exactly as Argo CD does (gopher-lua, the object in `obj`). */
async function health(obj: object): Promise<Health> {
  const bin = platformEnv().ARGOCD_LUA_BIN;
  if (!bin) throw new Error("ARGOCD_LUA_BIN is missing from .platform/env: run scripts/platform up");
  const child = execFileAsync(bin, [healthScript]);
  child.child.stdin?.end(JSON.stringify(obj));
  const { stdout } = await child;
  return JSON.parse(stdout) as Health;
}

/** Saves the object (runner input) and its verdict beside it, then returns the verdict. */
async function capture(name: string, obj: object | undefined): Promise<Health> {
  if (!obj) throw new Error(`${name}: the object is gone`);
  const verdict = await health(obj);
  await writeFile(path.join(artifactDir, `${name}.json`), `${JSON.stringify(obj, null, 2)}\n`);
  await writeFile(path.join(artifactDir, `${name}.health.json`), `${JSON.stringify(verdict, null, 2)}\n`);
  return verdict;
}

/** The parts of an Argo CD Application the example must get right. */
interface ApplicationManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; finalizers?: string[] };
  spec: {
    source: { repoURL: string; targetRevision: string; path: string };
    destination: { server: string; namespace: string };
    syncPolicy: { automated: Record<string, boolean>; syncOptions: string[] };
    ignoreDifferences?: unknown;
  };
}

function vm(name: string, spec: Record<string, unknown> = {}) {
  return proxmoxVm(name, { memory: { dedicated: 1024 }, ...spec });
}

function condition(obj: ProxmoxVMObject | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

describe("Argo CD: examples/argocd", () => {
  it("embeds health.lua in argocd-cm.yaml byte for byte", async () => {
    const script = await readFile(healthScript, "utf8");
    const cm = parse(await readFile(path.join(exampleDir, "argocd-cm.yaml"), "utf8")) as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> };
    expect(cm).toMatchObject({ kind: "ConfigMap", metadata: { name: "argocd-cm", namespace: "argocd" } });
    expect(Object.keys(cm.data)).toEqual([HEALTH_KEY]);
    expect(cm.data[HEALTH_KEY]).toBe(script);
    await execFileAsync(path.join(repoRoot, "scripts/sync-argocd-health"), ["--check"]);
  });

  it("has an Application that syncs with server-side apply, prunes and self-heals, and ignores no differences", async () => {
    const app = parse(await readFile(path.join(exampleDir, "application.yaml"), "utf8")) as ApplicationManifest;
    expect(app).toMatchObject({ apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name: expect.any(String), namespace: "argocd" } });
    expect(app.spec.source).toMatchObject({ repoURL: expect.stringMatching(/^https:\/\//), targetRevision: expect.any(String), path: expect.any(String) });
    expect(app.spec.destination).toMatchObject({ server: expect.any(String), namespace: expect.any(String) });
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(app.spec.syncPolicy.syncOptions).toContain("ServerSideApply=true");
    expect(app.spec.ignoreDifferences).toBeUndefined();
    // A cascading finalizer would turn deleting the Application into destroying every VM.
    expect(app.metadata.finalizers).toBeUndefined();
  });

  it("orders the connection and its Secret before the VMs with sync waves", async () => {
    const dir = path.join(exampleDir, "vms");
    const objects: { kind: string; metadata: { annotations?: Record<string, string> } }[] = [];
    for (const file of ["connection.yaml", "web-1.yaml"]) {
      for (const doc of parseAllDocuments(await readFile(path.join(dir, file), "utf8"))) objects.push(doc.toJS() as (typeof objects)[number]);
    }
    const wave = (kind: string) => Number(objects.find((o) => o.kind === kind)?.metadata.annotations?.["argocd.argoproj.io/sync-wave"] ?? 0);
    expect(objects.map((o) => o.kind).sort()).toEqual(["ProxmoxConnection", "ProxmoxVM", "Secret"]);
    expect(wave("Secret")).toBeLessThan(wave("ProxmoxVM"));
    expect(wave("ProxmoxConnection")).toBeLessThan(wave("ProxmoxVM"));
  });
});

describe("Argo CD health of hand-written edge cases", () => {
  it("says Progressing for an object no operator has looked at", async () => {
    const h = await health({ ...vm("fresh"), metadata: { name: "fresh", namespace: "ns", generation: 1 } });
    expect(h).toEqual({ status: "Progressing", message: "waiting for the operator to observe generation 1" });
  });

  it("says Progressing while status describes an older generation, even a Ready one", async () => {
    const h = await health({
      ...vm("behind"),
      metadata: { name: "behind", namespace: "ns", generation: 3 },
      status: {
        observedGeneration: 2,
        conditions: [{ type: "Ready", status: "True", reason: "Provisioned", message: "VM 100 on pve1 matches generation 2", observedGeneration: 2, lastTransitionTime: "2025-01-01T00:00:00Z" }],
      },
    });
    expect(h).toEqual({ status: "Progressing", message: "waiting for the operator to observe generation 3" });
  });

  it("says Progressing with the last failure while a failed run retries", async () => {
    const h = await health({
      ...vm("retry"),
      metadata: { name: "retry", namespace: "ns", generation: 1 },
      status: {
        conditions: [
          { type: "Ready", status: "False", reason: "ApplyFailed", message: "HTTP 596 — attempt 1 of 6, retrying with backoff", observedGeneration: 1 },
          { type: "Reconciling", status: "True", reason: "ApplyFailed", message: "retrying", observedGeneration: 1 },
        ],
      },
    });
    expect(h.status).toBe("Progressing");
    expect(h.message).toBe("ApplyFailed: retrying (last attempt: ApplyFailed: HTTP 596 — attempt 1 of 6, retrying with backoff)");
  });

  it("says Degraded when Ready but Proxmox drifted and driftDetection.mode Report keeps it", async () => {
    const h = await health({
      ...vm("drifted"),
      metadata: { name: "drifted", namespace: "ns", generation: 1 },
      status: {
        observedGeneration: 1,
        conditions: [
          { type: "Ready", status: "True", reason: "Provisioned", message: "VM 100 on pve1 matches generation 1", observedGeneration: 1 },
          { type: "Synced", status: "False", reason: "DriftDetected", message: "Proxmox differs from the spec: 0 to add, 1 to change, 0 to destroy", observedGeneration: 1 },
        ],
      },
    });
    expect(h).toEqual({ status: "Degraded", message: "DriftDetected: Proxmox differs from the spec: 0 to add, 1 to change, 0 to destroy" });
  });

  it("says Progressing, and why it is blocked, while a deletion waits for a missing connection", async () => {
    const h = await health({
      ...vm("stuck"),
      metadata: { name: "stuck", namespace: "ns", generation: 1, deletionTimestamp: "2025-01-01T00:00:00Z", finalizers: ["proxmox.terraform-manager.dev/finalizer"] },
      status: { observedGeneration: 1, conditions: [{ type: "Ready", status: "False", reason: "ConnectionNotFound", message: "cannot delete the VM: ProxmoxConnection pve not found" }] },
    });
    expect(h).toEqual({ status: "Progressing", message: "deleting, blocked: ConnectionNotFound: cannot delete the VM: ProxmoxConnection pve not found" });
  });

  it("copes with an empty status and an empty condition list", async () => {
    expect((await health({ ...vm("empty"), metadata: { name: "empty", generation: 1 }, status: {} })).status).toBe("Progressing");
    expect(await health({ ...vm("none"), metadata: { name: "none" }, status: { conditions: [] } })).toEqual({ status: "Progressing", message: "waiting for the operator's first run" });
  });
});

describe("Argo CD health of ProxmoxVMs captured from a real operator", () => {
  // Cloning takes a few seconds so the Reconciling window is wide; two attempts keep the
  // failing VM's retries short.
  const h = new OperatorHarness({ simulator: { taskDurations: { qmclone: 2000 } }, env: { PTM_MAX_ATTEMPTS: "2", PTM_WORKER_CONCURRENCY: "2" } });
  guardOperatorHarness(h);
  const webManifest = path.join(exampleDir, "vms/web-1.yaml");
  // Argo CD's own apply, as ServerSideApply=true runs it.
  const argoApply = (...extra: string[]) => ["apply", "--server-side", "--force-conflicts", `--field-manager=${ARGOCD_MANAGER}`, "-n", h.namespace, ...extra];

  beforeAll(async () => {
    await mkdir(artifactDir, { recursive: true });
    await h.start();
  });
  afterAll(() => h.close());

  it("installs the health key into an existing argocd-cm without touching its other keys, as the README says", async () => {
    await kubectl(["create", "configmap", "argocd-cm", "-n", h.namespace, "--from-literal=url=https://argocd.example.com"]);
    const cm = parse(await readFile(path.join(exampleDir, "argocd-cm.yaml"), "utf8")) as { metadata: { namespace: string } };
    cm.metadata.namespace = h.namespace;
    await kubectl(["apply", "--server-side", "--field-manager=ptm-argocd-health", "-f", "-"], JSON.stringify(cm));
    const live = JSON.parse(await kubectl(["get", "configmap", "argocd-cm", "-n", h.namespace, "-o", "json"])) as { data: Record<string, string> };
    expect(live.data.url).toBe("https://argocd.example.com");
    expect(live.data[HEALTH_KEY]).toBe(await readFile(healthScript, "utf8"));
  });

  it("accepts the example connection and Secret as Argo CD would apply them", async () => {
    const out = await kubectl([...argoApply("--dry-run=server", "-f", path.join(exampleDir, "vms/connection.yaml"))]);
    expect(out).toMatch(/secret\/pve-token serverside-applied \(server dry run\)/);
    expect(out).toMatch(/proxmoxconnection\.proxmox\.terraform-manager\.dev\/pve serverside-applied \(server dry run\)/);
  });

  it("says Suspended, with the command that approves, while a plan waits for manual approval", async () => {
    await h.apply(vm("gated", { approval: "Manual" }));
    const waiting = await h.waitForVm("gated", (v) => v?.status?.pendingApproval !== undefined);
    const verdict = await capture("suspended-awaiting-approval", waiting);
    expect(verdict.status).toBe("Suspended");
    expect(verdict.message).toContain(`kubectl annotate pvm -n ${h.namespace} gated ${APPROVE}=${waiting!.status!.pendingApproval!.hash} --overwrite`);
    expect(verdict.message).toContain("1 to add");
  });

  it("says Suspended for spec.suspend", async () => {
    await h.apply(vm("paused", { suspend: true }));
    const paused = await h.waitForVm("paused", (v) => condition(v, "Reconciling")?.reason === "Suspended");
    const verdict = await capture("suspended-spec-suspend", paused);
    expect(verdict.status).toBe("Suspended");
    expect(verdict.message).toContain("spec.suspend is true");
  });

  it("says Degraded, naming the connection, when the VM's ProxmoxConnection does not exist", async () => {
    await h.apply(vm("orphan", { connectionRef: { name: "no-such-connection" } }));
    const waiting = await h.waitForVm("orphan", (v) => condition(v, "Ready")?.reason === "ConnectionNotFound");
    const verdict = await capture("degraded-connection-not-found", waiting);
    expect(verdict.status).toBe("Degraded");
    expect(verdict.message).toMatch(/^ConnectionNotFound: .*no-such-connection/);
  });

  it("says Degraded with the Stalled message for a spec no retry can fix", async () => {
    // Passes the CRD schema, but 9000 is the template's id: the worker refuses to take it over.
    await h.apply(vm("taken-id", { vmId: 9000 }));
    const stalled = await h.waitForVm("taken-id", (v) => condition(v, "Stalled")?.status === "True");
    const verdict = await capture("degraded-stalled-invalid-spec", stalled);
    expect(verdict.status).toBe("Degraded");
    expect(verdict.message).toMatch(/^InvalidSpec: spec\.vmId 9000: a VM with this id already exists on pve1/);
  });

  it("says Degraded when a run failed for good, and Progressing while it still retried", async () => {
    // Every lock on VM 777 times out (a busy node, as far as the run can tell): each attempt
    // fails and retries until the last one. (A bad bridge or node is refused before any run now.)
    h.sim.setFaults({ lockTimeoutVmIds: [777] });
    await h.apply(vm("always-locked", { vmId: 777 }));
    let retrying: ProxmoxVMObject | undefined;
    const failed = await h.waitForVm(
      "always-locked",
      (v) => {
        if (!retrying && condition(v, "Reconciling")?.status === "True" && condition(v, "Ready")?.status === "False") retrying = v;
        return v?.status?.state === "Failed" && condition(v, "Reconciling")?.status === "False";
      },
      170_000,
    );
    h.sim.setFaults({ lockTimeoutVmIds: [] });
    expect(h.sim.injectedFaults().lockTimeouts).toBeGreaterThanOrEqual(2);
    const verdict = await capture("degraded-apply-failed", failed);
    expect(verdict.status).toBe("Degraded");
    expect(verdict.message).toMatch(/^LockTimeout: .*lock-777\.conf/s);
    // The 2 s retry backoff between the two attempts is far wider than the 300 ms poll.
    expect(retrying, "never saw the VM between its attempts (Reconciling True, Ready False)").toBeDefined();
    const between = await capture("progressing-retrying", retrying);
    expect(between.status).toBe("Progressing");
    expect(between.message).toContain("(last attempt: LockTimeout: ");
  }, 180_000);

  // One scenario, in order: each step needs the VM as the step before left it.
  describe.sequential("the example VM web-1, from sync to deletion", () => {
    it("goes Progressing → Healthy for the example VM synced the way Argo CD syncs it", async () => {
      const applied = JSON.parse(await kubectl([...argoApply("-o", "json", "-f", webManifest)])) as ProxmoxVMObject;
      // The API server's answer to the apply: no operator has seen the object yet.
      expect(applied.status).toBeUndefined();
      expect(await capture("progressing-just-applied", applied)).toEqual({ status: "Progressing", message: "waiting for the operator to observe generation 1" });

      const working = await h.waitForVm("web-1", (v) => condition(v, "Reconciling")?.status === "True");
      const progressing = await capture("progressing-reconciling", working);
      expect(progressing.status).toBe("Progressing");
      expect(progressing.message).toMatch(/^(Queued|Planning|Cloning|Applying): /);

      const ready = await h.waitForReady("web-1", 1);
      const healthy = await capture("healthy", ready);
      expect(healthy.status).toBe("Healthy");
      expect(healthy.message).toMatch(new RegExp(`^VM ${ready!.status!.vmId} on pve1 .*matches generation 1$`));
    });

    it("shows no drift after the operator worked: server-side apply needs no ignoreDifferences", async () => {
      const live = JSON.parse(await kubectl(["get", "-n", h.namespace, "pvm", "web-1", "--show-managed-fields", "-o", "json"])) as ProxmoxVMObject;
      expect(live.metadata.finalizers).toContain("proxmox.terraform-manager.dev/finalizer");
      const entries = (live.metadata as { managedFields?: { manager: string; operation: string; subresource?: string; fieldsV1: object }[] }).managedFields ?? [];
      const operatorEntries = entries.filter((e) => e.manager === OPERATOR_MANAGER);
      expect(operatorEntries.length).toBeGreaterThan(0);
      // The operator owns status (through the subresource) and its finalizer, nothing in spec.
      for (const entry of operatorEntries) {
        const owned = entry.fieldsV1 as Record<string, Record<string, unknown> | undefined>;
        expect(owned["f:spec"]).toBeUndefined();
        if (entry.subresource !== "status") expect(Object.keys(owned["f:metadata"] ?? {})).toEqual(["f:finalizers"]);
      }
      expect(entries.find((e) => e.manager === ARGOCD_MANAGER)?.fieldsV1).toHaveProperty("f:spec");

      // An approval written with kubectl annotate belongs to another manager: a later sync keeps it.
      await kubectl(["annotate", "-n", h.namespace, "pvm", "web-1", `${APPROVE}=placeholder-not-a-plan-hash`]);
      // kubectl diff exits 1 when the dry-run apply would change something (Argo CD's ServerSideDiff).
      const diff = await kubectl(["diff", "--server-side", "--force-conflicts", `--field-manager=${ARGOCD_MANAGER}`, "-n", h.namespace, "-f", webManifest]);
      expect(diff).toBe("");
      // A re-sync without --force-conflicts proves nobody else owns a field Argo CD applies.
      await kubectl(["apply", "--server-side", `--field-manager=${ARGOCD_MANAGER}`, "-n", h.namespace, "-f", webManifest]);
      const after = (await h.getVm("web-1"))!;
      expect(after.metadata.generation).toBe(1);
      expect(after.metadata.finalizers).toContain("proxmox.terraform-manager.dev/finalizer");
      expect(after.metadata.annotations?.[APPROVE]).toBe("placeholder-not-a-plan-hash");
      expect(condition(after, "Ready")?.status).toBe("True");
    });

    it("says Progressing for a new generation until the operator has observed it", async () => {
      const manifest = parse(await readFile(webManifest, "utf8")) as ReturnType<typeof vm>;
      // An operator setting: same Terraform stack, so no run, only a new generation to observe.
      const changed = { ...manifest, spec: { ...manifest.spec, driftDetection: { interval: "2h" } } };
      const applied = JSON.parse(await kubectl([...argoApply("-o", "json", "-f", "-")], JSON.stringify(changed))) as ProxmoxVMObject;
      expect(applied.metadata.generation).toBe(2);
      expect(applied.status?.observedGeneration).toBe(1);
      expect(await capture("progressing-generation-behind", applied)).toEqual({ status: "Progressing", message: "waiting for the operator to observe generation 2" });
      const observed = await h.waitForReady("web-1", 2);
      expect((await capture("healthy-generation-2", observed)).status).toBe("Healthy");
    });

    it("says Progressing while the VM is being deleted", async () => {
      // A slow destroy task keeps the finalizer in place while we look.
      h.sim.setBehaviour({ taskDurations: { qmclone: 2000, qmdestroy: 5000 } });
      await kubectl(["delete", "-n", h.namespace, "pvm", "web-1", "--wait=false"]);
      const deleting = await h.waitForVm("web-1", (v) => v?.metadata.deletionTimestamp !== undefined);
      expect(await capture("progressing-deleting", deleting)).toEqual({ status: "Progressing", message: "deleting the VM" });
      await h.waitForVm("web-1", (v) => v === undefined);
    });
  });
});
