/**
 * Faults end to end (issue 12), processes dying: the worker SIGKILLed together with tofu and the
 * provider mid-create (no graceful state write), the leading controller SIGKILLed mid-run with a
 * second one standing by, and the Proxmox simulator restarted mid-task from its state file (its
 * tasks come back stopped, as Proxmox's do). Real processes, real signals. Each test asserts the
 * invariants (test/support/invariants.ts) and prints the seconds to recovery.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertInvariants, vmIdentities } from "../support/invariants.js";
import { createPasswordSecret, faultEnv, faultVm, newSecrets, recoveryClock, waitForRunningTask } from "../support/fault-scenario.js";
import { OperatorHarness, type HarnessOptions } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const secrets = newSecrets();
const invariantSecrets = [secrets.password, secrets.passphrase];

/**
 * A harness started before and closed after the suite, with the password Secret, the operator
 * processes `startProcesses` starts, and a Ready VM "steady".
 */
function faultHarness(options: HarnessOptions, startProcesses: (h: OperatorHarness) => Promise<void> = async () => undefined): OperatorHarness {
  const h = new OperatorHarness({ captureLogs: true, ...options, env: { ...faultEnv(secrets.passphrase), PTM_LOG_LEVEL: "info", ...options.env } });
  guardOperatorHarness(h);
  beforeAll(async () => {
    await h.start();
    await createPasswordSecret(h, secrets.password);
    await startProcesses(h);
    await h.apply(faultVm("steady"));
    await h.waitForReady("steady", 1, 240_000);
  }, 300_000);
  afterAll(() => h.close());
  return h;
}

describe("faults end to end: processes", () => {
  describe("the worker and its tofu SIGKILLed mid-create", () => {
    let worker: ChildProcess;
    const h = faultHarness(
      // A slow clone: tofu is mid-create while the clone task runs. A short job lock lets the
      // dead worker's job return to the queue soon.
      { roles: ["controller"], simulator: { taskDurations: { qmclone: 5000 } }, env: { PTM_JOB_LOCK_DURATION: "6s" } },
      async (h) => void (worker = h.startOperatorProcess(["worker"], { name: "worker-1" })),
    );

    it("kills worker, tofu and provider at once; a new worker adopts the half-made VM: one VM, Ready", async () => {
      const before = await vmIdentities(h);
      await h.apply(faultVm("crash"));
      await waitForRunningTask(h, "qmclone");
      const killed = await h.crash(worker);
      const clock = recoveryClock("SIGKILL of worker + tofu mid-create");
      // The whole tree died: tofu and the provider plugin, not only the worker.
      expect(killed.some((p) => /(^|\/)tofu( |$)/.test(p.command))).toBe(true);
      expect(killed.some((p) => p.command.includes("terraform-provider-proxmox"))).toBe(true);
      h.startOperatorProcess(["worker"], { name: "worker-2" });
      await h.waitForReady("crash", 1, 420_000);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
      const runs = await h.runsOf("crash");
      expect(runs.map((r) => r.status)).toContain("failed"); // the killed run, closed as abandoned
      expect(runs.at(-1)?.status).toMatch(/succeeded|no_changes/);
    }, 600_000);
  });

  describe("the leading controller SIGKILLed mid-run", () => {
    const controllers = new Map<string, ChildProcess>();
    const leaseEnv = (h: OperatorHarness) => ({ PTM_LEADER_ELECTION: "true", PTM_LEASE_NAMESPACE: h.namespace });
    const h = faultHarness({ roles: ["worker"], simulator: { taskDurations: { qmclone: 5000 } } }, async (h) => {
      for (const name of ["controller-a", "controller-b"]) controllers.set(name, h.startOperatorProcess(["controller"], { name, env: leaseEnv(h) }));
    });

    async function leaseHolder(): Promise<string | undefined> {
      const out = await h.kubectl(["get", "lease", "-n", h.namespace, "proxmox-terraform-manager", "-o", "json"]).catch(() => "");
      return out ? (JSON.parse(out) as { spec?: { holderIdentity?: string | null } }).spec?.holderIdentity ?? undefined : undefined;
    }

    it("the standby takes over the lease and finishes the work, including a change made after the kill", async () => {
      const before = await vmIdentities(h);
      const leader = await waitFor("one of the controllers to hold the lease", async () => {
        const holder = await leaseHolder();
        return holder && controllers.has(holder) ? holder : undefined;
      });
      await h.apply(faultVm("led"));
      await waitForRunningTask(h, "qmclone");
      await h.crash(controllers.get(leader)!);
      const clock = recoveryClock("leader SIGKILL mid-run");
      // A change while no controller leads: only the new leader can act on it.
      await h.apply(faultVm("led", 1536));
      const standby = [...controllers.keys()].find((name) => name !== leader)!;
      await waitFor(`${standby} to hold the lease`, async () => (await leaseHolder()) === standby || undefined, 120_000);
      await h.waitForReady("led", 2, 420_000);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
      expect(h.sim.state().vms[(await h.getVm("led"))!.status!.vmId!]!.conf.memory).toBe("1536");
    }, 600_000);
  });

  describe("the simulator restarted mid-task", () => {
    const stateFile = path.join(os.tmpdir(), `ptm-sim-state-${randomBytes(4).toString("hex")}.json`);
    // Registered first, so it runs after the harness has closed (after-hooks run in reverse).
    afterAll(async () => {
      await rm(stateFile, { force: true });
      await rm(`${stateFile}.files`, { recursive: true, force: true });
    });
    // A slow start task: the restart comes while Proxmox is starting the new VM.
    const h = faultHarness({ simulator: { stateFile, taskDurations: { qmstart: 5000 } } });

    it("its running tasks come back stopped; the operator retries to Ready with one VM", async () => {
      const before = await vmIdentities(h);
      await h.apply(faultVm("restart"));
      await waitForRunningTask(h, "qmstart");
      const running = h.sim.context.tasks.list().filter((t) => t.status === "running").map((t) => t.upid);
      await h.restartSimulator();
      const clock = recoveryClock("simulator restart mid-task");
      // As after a node restart: a worker that was running is stopped, with no TASK OK.
      for (const upid of running) expect(h.sim.context.tasks.get(upid)).toMatchObject({ status: "stopped", exitstatus: "unexpected status" });
      await h.waitForReady("restart", 1, 420_000);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
    }, 600_000);
  });
});
