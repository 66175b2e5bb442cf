/**
 * VM id reservations live in Redis, which can lose them (a restart without persistence, a
 * FLUSHALL). An id another ProxmoxVM has pinned in status, whose VM is not made yet, then looks
 * free on Proxmox: the allocator must still not hand it out, or a second resource would adopt the
 * first one's VM. Real Redis, real simulator.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VmIdAllocator } from "../../src/jobs/vmid-allocator.js";
import { ProxmoxApiClient } from "../../src/proxmox/api-client.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { deleteRedisKeys } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { guardUnknownRoutes } from "../support/suite-hooks.js";

describe("VM id allocation after Redis lost the reservations", () => {
  const prefix = `t${randomBytes(4).toString("hex")}`;
  const reservations = `${prefix}:vmid-reservations:conn`;
  let sim: RunningSimulator;
  let redis: Redis;
  guardUnknownRoutes(() => [sim]);

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, log: false, unauthorizedDelayMs: 0 });
    redis = new Redis(platformEnv().REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await deleteRedisKeys(prefix);
    await sim?.close();
  });

  it("skips an id pinned in another ProxmoxVM's status although Proxmox and Redis call it free", async () => {
    const proxmox = new ProxmoxApiClient({ endpoint: sim.url, apiToken: sim.token, insecureSkipTLSVerify: true });
    const allocator = new VmIdAllocator(redis, prefix);
    const first = await allocator.allocate("conn", "uid-a", proxmox);
    expect(await allocator.allocate("conn", "uid-b", proxmox)).not.toBe(first);

    // Redis comes back empty; resource A has `first` pinned in status, its VM not made yet.
    await redis.del(reservations);
    // The reservations alone would now give A's id to B:
    expect(await allocator.allocate("conn", "uid-c", proxmox)).toBe(first);
    await redis.del(reservations);
    const second = await allocator.allocate("conn", "uid-b", proxmox, new Set([first]));
    expect(second).not.toBe(first);
    expect(await redis.hget(reservations, String(second))).toBe("uid-b");
  });
});
