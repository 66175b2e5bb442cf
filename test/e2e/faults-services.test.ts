/**
 * Faults end to end (issue 12), the operator's services failing: PostgreSQL stopped mid-apply
 * and started again, Redis stopped (the queue is lost) and Redis flushed, the kube-apiserver
 * restarted mid-run, and a watch that ends with 410 Gone. These stop or flush what they depend
 * on, so each runs against private instances (test/support/private-services.ts), never the
 * shared platform's. Each test asserts the invariants and prints the seconds to recovery.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertInvariants, vmIdentities } from "../support/invariants.js";
import { createPasswordSecret, faultEnv, faultVm, newSecrets, recoveryClock, waitForRunningTask } from "../support/fault-scenario.js";
import { OperatorHarness, type HarnessOptions } from "../support/operator-harness.js";
import { PrivateKube, PrivatePostgres, PrivateRedis } from "../support/private-services.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const secrets = newSecrets();
const invariantSecrets = [secrets.password, secrets.passphrase];

/**
 * A harness on private services, made in beforeAll once `services()` has started them (their
 * addresses are known only then), with the password Secret and a Ready VM "steady". After the
 * suite the harness closes first, then `closeServices` removes the services.
 */
function privateHarness(services: () => Promise<HarnessOptions["services"]>, closeServices: () => Promise<void>, options: HarnessOptions = {}): () => OperatorHarness {
  let h: OperatorHarness | undefined;
  guardUnknownRoutes(() => [h?.started ? h.sim : undefined]);
  beforeAll(async () => {
    h = new OperatorHarness({
      captureLogs: true,
      // A slow clone: a fault can land while tofu is mid-create.
      simulator: { taskDurations: { qmclone: 5000 } },
      ...options,
      services: await services(),
      env: { ...faultEnv(secrets.passphrase), PTM_LOG_LEVEL: "info", ...options.env },
    });
    await h.start();
    await createPasswordSecret(h, secrets.password);
    await h.apply(faultVm("steady"));
    await h.waitForReady("steady", 1, 240_000);
  }, 400_000);
  afterAll(async () => {
    try {
      await h?.close();
    } finally {
      await closeServices();
    }
  });
  return () => h!;
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return path.join(entry.parentPath, entry.name);
  }
  return undefined;
}

/** How often the operator logged that an informer failed and was restarted. */
async function informerRestarts(h: OperatorHarness): Promise<number> {
  let count = 0;
  for (const file of h.logFiles()) count += (await readFile(file, "utf8")).split("\n").filter((line) => line.includes('"msg":"informer stopped; restarting"')).length;
  return count;
}

describe("faults end to end: services", () => {
  describe("PostgreSQL stopped mid-apply", () => {
    const pg = new PrivatePostgres();
    const harness = privateHarness(async () => ({ databaseUrl: (await pg.init()).url }), () => pg.close());

    it("tofu keeps errored.tfstate, the next run pushes it back: the VM is recorded without an import, no second VM", async () => {
      const h = harness();
      const before = await vmIdentities(h);
      await h.apply(faultVm("pgdown"));
      await waitForRunningTask(h, "qmclone");
      await pg.stop();
      const clock = recoveryClock("PostgreSQL stopped mid-apply");
      try {
        // The positive signal that the apply ended without its backend: tofu wrote the state it holds aside.
        await waitFor("tofu to write errored.tfstate", () => findFile(h.workdir, "errored.tfstate"), 300_000);
      } finally {
        await pg.start();
      }
      await h.waitForReady("pgdown", 1, 420_000);
      clock.recovered();
      await assertInvariants(h, { before, secrets: [...invariantSecrets, pg.secret] });
      const pushed = await h.pg((c) =>
        c.query(
          `select e.message from ${h.dbSchema}.run_events e join ${h.dbSchema}.runs r on r.id = e.run_id where r.name = 'pgdown' and e.message like 'pushed the state an earlier run could not save%'`,
        ),
      );
      expect(pushed.rowCount).toBe(1);
      // The VM was recorded by the pushed state: no run after the push had to create anything.
      const runs = await h.runsOf("pgdown");
      expect(runs.at(-1)).toMatchObject({ add_count: 0 });
      expect(await findFile(h.workdir, "errored.tfstate")).toBeUndefined();
    }, 900_000);
  });

  describe("Redis stopped and Redis flushed", () => {
    const redis = new PrivateRedis();
    const harness = privateHarness(async () => ({ redisUrl: (await redis.init()).url }), () => redis.close());

    it("Redis stopped mid-run (the queue is lost): the controller re-creates the jobs from the resources", async () => {
      const h = harness();
      const before = await vmIdentities(h);
      await h.apply(faultVm("lost"));
      await waitForRunningTask(h, "qmclone");
      await redis.stop();
      const clock = recoveryClock("Redis stopped mid-run");
      // A change the controller sees while it cannot queue anything.
      await h.apply(faultVm("steady", 1536));
      // The run goes on without Redis: the clone ends on Proxmox meanwhile.
      await waitFor("the clone to end", () => h.sim.context.tasks.list().every((t) => t.type !== "qmclone" || t.status === "stopped"), 120_000);
      // Without persistence, the Redis that comes back is empty: every job is gone.
      await redis.start();
      await Promise.all([h.waitForReady("lost", 1, 420_000), h.waitForReady("steady", 2, 420_000)]);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
    }, 900_000);

    it("Redis flushed (FLUSHALL) with a run active and one queued: both are re-created and finish", async () => {
      const h = harness();
      const before = await vmIdentities(h);
      await h.apply(faultVm("flushed"));
      await waitForRunningTask(h, "qmclone");
      await h.apply(faultVm("steady", 2048));
      await waitFor("the change's run to be queued", async () => (await h.runJobState("steady")) ?? undefined, 120_000);
      expect((await redis.cli("flushall")).trim()).toBe("OK");
      const clock = recoveryClock("Redis FLUSHALL");
      expect(await h.runJobState("steady")).toBeUndefined();
      await Promise.all([h.waitForReady("flushed", 1, 420_000), h.waitForReady("steady", 3, 420_000)]);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
    }, 900_000);
  });

  describe("the kube-apiserver restarted, and a watch that ends with 410 Gone", () => {
    // Watches end every 5-10 s and are served from etcd (no watch cache), so a compaction makes
    // the informer's next watch fail with 410 Gone.
    const kube = new PrivateKube({ minRequestTimeoutSeconds: 5, watchCache: false });
    const harness = privateHarness(async () => ({ kubeconfig: (await kube.init()).kubeconfigPath }), () => kube.close());

    it("the kube-apiserver restarted mid-run: the run's outcome reaches the resource, one VM, Ready", async () => {
      const h = harness();
      const before = await vmIdentities(h);
      await h.apply(faultVm("kube"));
      await waitForRunningTask(h, "qmclone");
      await kube.stopApiServer();
      const clock = recoveryClock("kube-apiserver restarted mid-run");
      // The run goes on without the API server: the clone ends on Proxmox meanwhile.
      await waitFor("the clone to end", () => h.sim.context.tasks.list().every((t) => t.type !== "qmclone" || t.status === "stopped"), 120_000);
      await kube.startApiServer();
      await h.waitForReady("kube", 1, 420_000);
      clock.recovered();
      await assertInvariants(h, { before, secrets: invariantSecrets });
    }, 900_000);

    it("a watch that ends with 410 Gone: the informer relists and sees later changes", async () => {
      const h = harness();
      const before = await vmIdentities(h);
      const lists = await kube.requestCount("proxmoxvms", "LIST");
      const restarts = await informerRestarts(h);
      // Writes elsewhere move etcd past the informer's last resourceVersion X; then compact there.
      // Two of them: the apiserver resumes a watch at X+1, which a compaction to X+1 would keep.
      await h.kubectl(["create", "configmap", "-n", h.namespace, "bump-1"]);
      await h.kubectl(["create", "configmap", "-n", h.namespace, "bump-2"]);
      await kube.compact();
      const clock = recoveryClock("watch ended with 410 Gone");
      await waitFor("the informer to relist", async () => (await kube.requestCount("proxmoxvms", "LIST")) > lists, 120_000);
      clock.recovered();
      // Relisted through the 410 path (client-node lists again at once), not after an informer error.
      expect(await informerRestarts(h)).toBe(restarts);
      const generation = (await h.getVm("steady"))!.metadata.generation!;
      await h.apply(faultVm("steady", 1536));
      await h.waitForReady("steady", generation + 1, 300_000);
      await assertInvariants(h, { before, secrets: invariantSecrets });
      expect(h.sim.state().vms[before.get("steady")!.vmId]!.conf.memory).toBe("1536");
    }, 600_000);
  });
});
