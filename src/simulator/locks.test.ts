import { describe, expect, it } from "vitest";
import { LockManager } from "./locks.js";

describe("config locks", () => {
  it("lets shared holders share and makes an exclusive waiter time out with Proxmox's message", async () => {
    const locks = new LockManager();
    const a = await locks.acquire(9000, { shared: true, timeoutMs: 100 });
    const b = await locks.acquire(9000, { shared: true, timeoutMs: 100 });
    await expect(locks.acquire(9000, { timeoutMs: 30 })).rejects.toThrow("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
    a();
    b();
    const c = await locks.acquire(9000, { timeoutMs: 30 });
    expect(locks.isLocked(9000)).toBe(true);
    c();
    expect(locks.isLocked(9000)).toBe(false);
  });

  it("hands an exclusive lock to the next waiter when released", async () => {
    const locks = new LockManager();
    const order: string[] = [];
    const first = await locks.acquire(101, { timeoutMs: 100 });
    const second = locks.acquire(101, { timeoutMs: 1000 }).then((release) => {
      order.push("second");
      release();
    });
    order.push("first");
    first();
    await second;
    expect(order).toEqual(["first", "second"]);
  });

  it("fails at once when a timeout is forced", async () => {
    const locks = new LockManager();
    locks.forcedTimeout = (vmid) => vmid === 7;
    await expect(locks.withLock(7, { timeoutMs: 10_000 }, () => 1)).rejects.toThrow("lock-7.conf' - got timeout");
    await expect(locks.withLock(8, { timeoutMs: 10_000 }, () => 2)).resolves.toBe(2);
  });
});
