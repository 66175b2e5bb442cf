import { describe, expect, it } from "vitest";
import { WorkQueue, type WorkResult } from "./work-queue.js";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("WorkQueue", () => {
  it("queues a waiting key once", async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue({
      concurrency: 1,
      process: async (key) => {
        seen.push(key);
        await gate;
      },
    });
    q.add("blocker");
    q.add("a");
    q.add("a");
    q.add("a");
    expect(q.length).toBe(1);
    release();
    await tick(20);
    expect(seen).toEqual(["blocker", "a"]);
  });

  it("never runs one key twice at once, and reruns a key added while it ran", async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue({
      concurrency: 4,
      process: async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        await tick(20);
        running--;
      },
    });
    q.add("k");
    await tick(2);
    q.add("k");
    q.add("k");
    await tick(80);
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it("requeues after the delay a handler asks for, keeping the earliest due time", async () => {
    const times: number[] = [];
    const start = Date.now();
    const q = new WorkQueue({
      concurrency: 1,
      process: async (): Promise<WorkResult> => {
        times.push(Date.now() - start);
        return times.length === 1 ? { requeueAfterMs: 30 } : undefined;
      },
    });
    q.add("k");
    await tick(5);
    q.addAfter("k", 1000);
    await tick(80);
    expect(times).toHaveLength(2);
    expect(times[1]!).toBeGreaterThanOrEqual(25);
    expect(times[1]!).toBeLessThan(500);
    await q.shutdown();
  });

  it("backs off a failing key and reports the error", async () => {
    const errors: string[] = [];
    let calls = 0;
    const q = new WorkQueue({
      concurrency: 1,
      baseBackoffMs: 10,
      process: async () => {
        calls++;
        if (calls < 3) throw new Error(`boom ${calls}`);
      },
      onError: (_key, error) => errors.push((error as Error).message),
    });
    q.add("k");
    await tick(100);
    expect(errors).toEqual(["boom 1", "boom 2"]);
    expect(calls).toBe(3);
  });

  it("waits for handlers in flight on shutdown and takes no new work", async () => {
    let finished = false;
    const q = new WorkQueue({
      concurrency: 1,
      process: async () => {
        await tick(30);
        finished = true;
      },
    });
    q.add("k");
    await tick(2);
    await q.shutdown();
    expect(finished).toBe(true);
    q.add("other");
    expect(q.length).toBe(0);
  });
});
