import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkQueue, type WorkResult } from "./work-queue.js";

/**
 * Fake timers throughout: delays are checked by advancing the clock exactly, and handlers are
 * released by the test, so nothing depends on how fast this machine is.
 */
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets pending promise callbacks run (the queue's handlers are async). */
const settle = () => vi.advanceTimersByTimeAsync(0);

/** A handler whose calls each wait until the test releases them. */
function gatedHandler() {
  const calls: { key: string; release: () => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const process = (key: string) =>
    new Promise<void>((resolve) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      calls.push({
        key,
        release: () => {
          running--;
          resolve();
        },
      });
    });
  return { calls, process, maxRunning: () => maxRunning };
}

describe("WorkQueue", () => {
  it("queues a waiting key once", async () => {
    const handler = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, process: handler.process });
    q.add("blocker");
    q.add("a");
    q.add("a");
    q.add("a");
    expect(q.length).toBe(1);
    await settle();
    handler.calls[0]!.release();
    await settle();
    handler.calls[1]!.release();
    await q.shutdown();
    expect(handler.calls.map((c) => c.key)).toEqual(["blocker", "a"]);
  });

  it("never runs one key twice at once, and reruns a key added while it ran", async () => {
    const handler = gatedHandler();
    const q = new WorkQueue({ concurrency: 4, process: handler.process });
    q.add("k");
    await settle();
    expect(handler.calls).toHaveLength(1);
    q.add("k");
    q.add("k");
    await settle();
    expect(handler.calls).toHaveLength(1);
    handler.calls[0]!.release();
    await settle();
    expect(handler.calls).toHaveLength(2);
    handler.calls[1]!.release();
    await q.shutdown();
    expect(handler.calls).toHaveLength(2);
    expect(handler.maxRunning()).toBe(1);
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
    await settle();
    q.addAfter("k", 1000);
    await vi.advanceTimersByTimeAsync(29);
    expect(times).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(times).toEqual([0, 30]);
    // The later add was folded into the earlier one: nothing more runs.
    await vi.advanceTimersByTimeAsync(2000);
    expect(times).toEqual([0, 30]);
    await q.shutdown();
  });

  it("backs off a failing key exponentially, jittered, and reports each error", async () => {
    const errors: string[] = [];
    const times: number[] = [];
    const start = Date.now();
    const q = new WorkQueue({
      concurrency: 1,
      baseBackoffMs: 100,
      backoffJitter: 0.1,
      random: () => 0.5, // +5 %
      process: async () => {
        times.push(Date.now() - start);
        if (times.length < 3) throw new Error(`boom ${times.length}`);
      },
      onError: (_key, error) => errors.push((error as Error).message),
    });
    q.add("k");
    await vi.advanceTimersByTimeAsync(1000);
    // 100 ms × 1.05 after the first failure, 200 ms × 1.05 after the second.
    expect(times).toEqual([0, 105, 105 + 210]);
    expect(errors).toEqual(["boom 1", "boom 2"]);
    await q.shutdown();
  });

  it("waits for handlers in flight on shutdown and takes no new work", async () => {
    const handler = gatedHandler();
    const q = new WorkQueue({ concurrency: 1, process: handler.process });
    q.add("k");
    await settle();
    let stopped = false;
    const shutdown = q.shutdown().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    handler.calls[0]!.release();
    await shutdown;
    expect(stopped).toBe(true);
    q.add("other");
    expect(q.length).toBe(0);
    expect(handler.calls.map((c) => c.key)).toEqual(["k"]);
  });
});
