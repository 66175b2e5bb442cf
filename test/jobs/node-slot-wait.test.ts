import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROXMOX_VM } from "../../src/api/group.js";
import type { ProxmoxVMStatus } from "../../src/api/status.js";
import { readEnv } from "../../src/config/env.js";
import { ConnectionResolver, type ResolvedConnection } from "../../src/vm/connection-resolver.js";
import { StackHasher } from "../../src/vm/stack-hasher.js";
import { NodeSlots } from "../../src/jobs/node-slots.js";
import { createRunProcessor } from "../../src/jobs/create-run-processor.js";
import { SlotHints } from "../../src/jobs/node-slot-lease.js";
import { StateEncryption } from "../../src/jobs/state-encryption.js";
import { redisConnection } from "../../src/queue/redis-connection.js";
import { RUN_QUEUE, RunQueue, type RunJob } from "../../src/queue/run-queue.js";
import { CustomObjects } from "../../src/kube/custom-objects.js";
import { EventRecorder } from "../../src/kube/event-recorder.js";
import { StatusWriter } from "../../src/kube/status-writer.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { openDatabase, type Database } from "../../src/store/database.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { TerraformRunner } from "../../src/terraform/index.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";

/** The real ProxmoxVM client, counting its reads. */
class CountingVms extends CustomObjects<ProxmoxVMObject> {
  gets = 0;
  override get(namespace: string, name: string): Promise<ProxmoxVMObject> {
    this.gets++;
    return super.get(namespace, name);
  }
}

/** The real resolver (ProxmoxConnection + Secret), counting its resolutions. */
class CountingResolver extends ConnectionResolver {
  resolves = 0;
  override resolve(namespace: string, connectionName: string): Promise<ResolvedConnection> {
    this.resolves++;
    return super.resolve(namespace, connectionName);
  }
}

const vmManifest = (memory: number) => proxmoxVm("waits", { cpu: { cores: 1 }, memory: { dedicated: memory }, started: false });

/**
 * A job that waits for a node slot: each wake-up asks Redis for the slot it wanted last time and
 * reads nothing from Kubernetes; once it gets the slot it reads the VM again and runs the newest
 * spec. The worker is wired here as src/app.ts wires it, with the real API server, Redis,
 * PostgreSQL, tofu and simulator; only the two clients count their calls.
 */
describe("a run waiting for a node slot", () => {
  const h = new OperatorHarness({ roles: [] });
  guardOperatorHarness(h);
  const holder = "another-run";
  let redis: Redis;
  let database: Database;
  let queue: RunQueue;
  let worker: Worker<RunJob>;
  let vms: CountingVms;
  let connections: CountingResolver;
  let slots: NodeSlots;
  let connectionUid: string;
  let wakeUps = 0;
  let settled = 0;
  /** What the processor's slot hints answered: the real SlotHints, observed (not replaced). */
  const hintAnswers = { fresh: 0, missing: 0 };

  beforeAll(async () => {
    await h.start();
    const env = readEnv({ ...process.env, ...h.operatorEnv() });
    // One run at a time on pve1, and "another run" has that slot.
    await h.apply({
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxConnection",
      metadata: { name: "pve" },
      spec: { endpoint: h.sim.url, tokenSecretRef: { name: "pve-token", key: "token" }, insecureSkipTLSVerify: true, maxConcurrentJobsPerNode: 1 },
    });
    connectionUid = (await kubectl(["get", "-n", h.namespace, "pxc", "pve", "-o", "jsonpath={.metadata.uid}"])).trim();
    redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
    slots = new NodeSlots(redis, env.PTM_QUEUE_PREFIX);
    expect(await slots.tryAcquire(connectionUid, "pve1", holder, 1)).toBe(true);
    const fresh = SlotHints.prototype.fresh;
    vi.spyOn(SlotHints.prototype, "fresh").mockImplementation(function (this: SlotHints, ...args: Parameters<SlotHints["fresh"]>) {
      const hint = fresh.apply(this, args);
      if (hint) hintAnswers.fresh++;
      else hintAnswers.missing++;
      return hint;
    });

    database = await openDatabase(env.DATABASE_URL, env.PTM_DB_SCHEMA);
    const logger = createLogger("error", { test: h.namespace });
    vms = new CountingVms(h.kubeConfig, PROXMOX_VM.plural);
    connections = new CountingResolver(h.kubeConfig);
    const runner = new TerraformRunner({ binary: env.TOFU_BIN!, flavor: "tofu", workdirRoot: env.PTM_WORKDIR_ROOT, cliConfigFile: env.TF_CLI_CONFIG_FILE, lockTimeout: "90s" });
    const tool = await runner.version();
    const processor = createRunProcessor(env, redis, {
      vms,
      status: new StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>(vms),
      events: new EventRecorder(h.kubeConfig, logger, "slot-test"),
      connections,
      hasher: new StackHasher({ providerVersion: env.PTM_PROVIDER_VERSION, toolVersion: `${tool.flavor} ${tool.version}`, stateSchema: env.PTM_STATE_SCHEMA }),
      runner,
      runs: database.runs,
      workerId: "slot-test",
      logger,
      shutdownSignal: new AbortController().signal,
      stateEncryption: StateEncryption.fromEnv(env, h.kubeConfig),
    });
    const connection = redisConnection(env.REDIS_URL);
    queue = new RunQueue({ connection, prefix: env.PTM_QUEUE_PREFIX, maxAttempts: 3 });
    worker = new Worker<RunJob>(
      RUN_QUEUE,
      (job, token) => {
        wakeUps++;
        return processor.process(job, token).finally(() => settled++);
      },
      { connection, prefix: env.PTM_QUEUE_PREFIX, concurrency: 2 },
    );
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await worker?.close();
    await queue?.close();
    redis?.disconnect();
    await database?.close();
    await h.close();
  });

  it("costs no Kubernetes reads while it waits, and runs the spec that is current when the slot frees", async () => {
    await h.apply(vmManifest(1024));
    const vm = await h.getVm("waits");
    expect(await queue.enqueue({ namespace: h.namespace, name: "waits", uid: vm!.metadata.uid!, reason: "create" })).toBe(true);

    // Counted between wake-ups (none in progress), so every wake-up counted has done its reads.
    let seen: { wakeUps: number; fresh: number; missing: number; gets: number; resolves: number } | undefined;
    const woke = await waitUntil(() => {
      if (wakeUps < 6 || hintAnswers.fresh < 3 || settled !== wakeUps) return false;
      seen = { wakeUps, ...hintAnswers, gets: vms.gets, resolves: connections.resolves };
      return true;
    }, 60_000);
    expect(woke).toBe(true);
    // Each wake-up asks for its hint first. With a fresh one (younger than SLOT_HINT_TTL_MS) it
    // asks Redis for that slot and reads nothing from Kubernetes; only without one (the first
    // run, or the hint aged out) does it read the VM and resolve the connection, once each.
    // Before, every wake-up read the VM, the connection and the Secret.
    expect(seen!.missing).toBeGreaterThanOrEqual(1);
    expect(seen!.gets).toBe(seen!.missing);
    expect(seen!.resolves).toBe(seen!.missing);
    expect(seen!.fresh + seen!.missing).toBe(seen!.wakeUps);
    expect(await h.runsOf("waits")).toEqual([]);

    // The spec changes while the job waits; then the other run gives the slot back.
    await h.apply(vmManifest(1536));
    await slots.release(connectionUid, "pve1", holder);

    const ready = await h.waitForReady("waits", 2, 150_000);
    expect(ready?.status?.observedGeneration).toBe(2);
    const simVm = h.simVms().find((s) => s.vmid === ready?.status?.vmId);
    expect(Number(simVm?.conf.memory)).toBe(1536);
    expect((await h.runsOf("waits")).map((r) => r.status)).toEqual(["succeeded"]);
    // The job's own slot was given back when the run ended.
    expect(await redis.zcard(`${h.prefix}:node-slots:${connectionUid}:pve1`)).toBe(0);
  });
});

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !check()) await new Promise((r) => setTimeout(r, 100));
  return check();
}
