import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisConnection } from "../../src/queue/redis-connection.js";
import { RunQueue, type RunReason } from "../../src/queue/run-queue.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { platformEnv } from "../support/platform-env.js";

/**
 * A reconcile that read the VM just before the previous run finished can queue a create/update
 * run for a spec that run has already applied. The worker checks again when it takes the job and
 * runs nothing then; drift, approved and manual runs always run.
 */
describe("a run queued for a spec that is already applied", () => {
  const h = new OperatorHarness();
  guardOperatorHarness(h);
  let queue: RunQueue;

  beforeAll(async () => {
    await h.start();
    queue = new RunQueue({ connection: redisConnection(platformEnv().REDIS_URL), prefix: h.prefix, maxAttempts: 1 });
  });
  afterAll(async () => {
    await queue?.close();
    await h.close();
  });

  /** Queues a run as the controller would and waits until a worker has taken and finished it. */
  async function runJob(vm: { metadata: { namespace: string; name: string; uid: string } }, reason: RunReason): Promise<void> {
    const { namespace, name, uid } = vm.metadata;
    expect(await queue.enqueue({ namespace, name, uid, reason })).toBe(true);
    const deadline = Date.now() + 60_000;
    while ((await queue.queue.getJob(uid)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`the ${reason} job for ${name} did not finish`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("is skipped for create/update, and still runs when asked for by hand", async () => {
    await h.apply(proxmoxVm("settled", { memory: { dedicated: 1024 } }));
    const ready = (await h.waitForReady("settled", 1))!;
    const runs = (await h.runsOf("settled")).length;

    await runJob(ready, "update");
    await runJob(ready, "create");
    expect(await h.runsOf("settled")).toHaveLength(runs);

    await runJob(ready, "manual");
    const after = await h.runsOf("settled");
    expect(after).toHaveLength(runs + 1);
    expect(after.at(-1)?.status).toBe("no_changes");
  });
});
