import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { guardOperatorHarness, useOperatorHarness } from "../support/suite-hooks.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { waitFor } from "../support/wait.js";

function vm(name: string, extra: Record<string, unknown> = {}) {
  return proxmoxVm(name, { cpu: { cores: 1 }, memory: { dedicated: 1024 }, agent: { enabled: true, timeout: "2m" }, ...extra });
}

describe("resilience: faults, retries, crashes and load", () => {
  describe("with an in-process operator", () => {
    const h = useOperatorHarness({ env: { PTM_MAX_ATTEMPTS: "8" } });
    afterEach(() => h.sim.setFaults({ http500Rate: 0, forceLockTimeout: false, lockTimeoutVmIds: [] }));

    it("retries through Proxmox lock timeouts to Ready", async () => {
      const before = h.sim.injectedFaults().lockTimeouts;
      h.sim.setFaults({ forceLockTimeout: true });
      await h.apply(vm("locked"));
      const failing = await h.waitForVm("locked", (v) => v?.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "LockTimeout") === true);
      expect(failing?.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/can't lock file '\/var\/lock\/qemu-server\/lock-\d+\.conf' - got timeout/);
      h.sim.setFaults({ forceLockTimeout: false });
      expect(h.sim.injectedFaults().lockTimeouts).toBeGreaterThan(before);
      const ready = await h.waitForReady("locked", 1, 180_000);
      expect(h.simVms().filter((v) => v.vmid === ready?.status?.vmId)).toHaveLength(1);
      const runs = await h.runsOf("locked");
      expect(runs.filter((r) => r.status === "failed").length).toBeGreaterThan(0);
      expect(runs.at(-1)?.status).toMatch(/succeeded|no_changes/);
    });

    it("retries through HTTP 500s to Ready with exactly one VM", async () => {
      const before = h.sim.injectedFaults().http500;
      h.sim.setFaults({ http500Rate: 0.3 });
      await h.apply(vm("flaky"));
      // Faults stay on until the operator has met several of them (and a failed run, if one ends
      // before that): the retry below is a retry through 500s, not a first attempt that got lucky.
      await waitFor("three injected HTTP 500s", () => h.sim.injectedFaults().http500 - before >= 3, 120_000);
      h.sim.setFaults({ http500Rate: 0 });
      const ready = await h.waitForReady("flaky", 1, 180_000);
      const vmId = ready?.status?.vmId;
      expect(h.simVms().filter((v) => v.vmid === vmId)).toHaveLength(1);
      // Every VM in the simulator belongs to a ProxmoxVM of this namespace: nothing half-made was left behind.
      const listed = JSON.parse(await kubectl(["get", "-n", h.namespace, "pvm", "-o", "json"])) as { items: { status?: { vmId?: number } }[] };
      const owned = listed.items.map((item) => item.status?.vmId).filter((id): id is number => id !== undefined);
      expect(owned).toContain(vmId);
      expect(h.simVms().map((v) => v.vmid).sort()).toEqual(owned.sort());
    });

    it("applies 20 VMs at once: all Ready, one apply each, no duplicate VM", async () => {
      const before = new Set(h.simVms().map((v) => v.vmid));
      const names = Array.from({ length: 20 }, (_, i) => `fleet-${i}`);
      await kubectl(["apply", "-n", h.namespace, "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: names.map((n) => vm(n)) }));
      const ready = await Promise.all(names.map((n) => h.waitForReady(n, 1, 420_000)));
      const ids = ready.map((v) => v!.status!.vmId!);
      expect(new Set(ids).size).toBe(20);
      const created = h.simVms().filter((v) => !before.has(v.vmid));
      expect(created.map((v) => v.vmid).sort()).toEqual([...ids].sort());
      for (const name of names) {
        const applies = (await h.runsOf(name)).filter((r) => r.action === "apply" && r.status === "succeeded");
        expect(applies, name).toHaveLength(1);
      }
    }, 600_000);
  });

  // A worker SIGKILLed mid-apply (with tofu and the provider) is test/e2e/faults-processes.test.ts.
  describe("with a worker process", () => {
    const h = new OperatorHarness({
      roles: ["controller"],
      // A slow clone leaves time to stop the worker while tofu is creating the VM.
      simulator: { taskDurations: { qmclone: 5000 } },
      env: { PTM_JOB_LOCK_DURATION: "6s" },
    });
    guardOperatorHarness(h);
    beforeAll(() => h.start().then(() => undefined));
    afterAll(() => h.close());

    it("lets the current run finish on SIGTERM, then exits", async () => {
      // This test's worker is the only one, so that "Cloning" proves it is up and busy.
      const worker = h.startOperatorProcess(["worker"], { name: "graceful", env: { PTM_SHUTDOWN_GRACE: "2m" } });
      await h.apply(vm("graceful"));
      await h.waitForVm("graceful", (v) => v?.status?.conditions?.some((c) => c.type === "Reconciling" && c.reason === "Cloning") === true, 120_000);
      worker.kill("SIGTERM");
      const [code] = (await once(worker, "exit")) as [number | null];
      expect(code).toBe(0);
      // The run was not interrupted: it finished and recorded its outcome before the exit.
      const runs = await h.runsOf("graceful");
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ action: "apply", status: "succeeded" });
      const ready = await h.waitForReady("graceful", 1, 30_000);
      expect(h.simVms().filter((v) => v.vmid === ready?.status?.vmId)).toHaveLength(1);
    }, 400_000);
  });
});
