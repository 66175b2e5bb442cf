/**
 * Per-VM config locks, the stand-in for qemu-server's flock on
 * /var/lock/qemu-server/lock-<vmid>.conf. Exclusive holders exclude everyone; shared holders
 * (a clone of a stopped VM or template locks its source shared) exclude only exclusive ones.
 * A waiter gives up after its timeout with Proxmox's exact message.
 */
import { fail, lockTimeoutMessage } from "./errors.js";

export type Release = () => void;

interface Waiter {
  shared: boolean;
  grant: (release: Release) => void;
  timer: NodeJS.Timeout;
}

interface LockState {
  exclusive: boolean;
  holders: number;
  waiters: Waiter[];
}

export interface AcquireOptions {
  shared?: boolean;
  timeoutMs: number;
}

export class LockManager {
  private readonly locks = new Map<number, LockState>();

  /** Set by fault injection: acquisitions of these locks fail at once with the timeout message. */
  forcedTimeout: (vmid: number) => boolean = () => false;

  acquire(vmid: number, options: AcquireOptions): Promise<Release> {
    if (this.forcedTimeout(vmid)) return Promise.reject(fail(lockTimeoutMessage(vmid)));
    const state = this.state(vmid);
    const shared = options.shared ?? false;
    if (this.compatible(state, shared)) return Promise.resolve(this.take(vmid, state, shared));
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        shared,
        grant: resolve,
        timer: setTimeout(() => {
          state.waiters = state.waiters.filter((w) => w !== waiter);
          reject(fail(lockTimeoutMessage(vmid)));
        }, options.timeoutMs),
      };
      state.waiters.push(waiter);
    });
  }

  /** Runs `fn` holding the lock; the lock is released however `fn` ends. */
  async withLock<T>(vmid: number, options: AcquireOptions, fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire(vmid, options);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  isLocked(vmid: number): boolean {
    const s = this.locks.get(vmid);
    return !!s && s.holders > 0;
  }

  snapshot(): Record<string, { mode: "exclusive" | "shared"; holders: number; waiters: number }> {
    const out: Record<string, { mode: "exclusive" | "shared"; holders: number; waiters: number }> = {};
    for (const [vmid, s] of this.locks) {
      if (s.holders > 0 || s.waiters.length > 0) {
        out[vmid] = { mode: s.exclusive ? "exclusive" : "shared", holders: s.holders, waiters: s.waiters.length };
      }
    }
    return out;
  }

  reset(): void {
    for (const s of this.locks.values()) for (const w of s.waiters) clearTimeout(w.timer);
    this.locks.clear();
  }

  private state(vmid: number): LockState {
    let s = this.locks.get(vmid);
    if (!s) {
      s = { exclusive: false, holders: 0, waiters: [] };
      this.locks.set(vmid, s);
    }
    return s;
  }

  private compatible(state: LockState, shared: boolean): boolean {
    if (state.holders === 0) return true;
    return shared && !state.exclusive;
  }

  private take(vmid: number, state: LockState, shared: boolean): Release {
    state.holders++;
    state.exclusive = !shared;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.holders--;
      if (state.holders === 0) state.exclusive = false;
      this.wake(vmid, state);
    };
  }

  private wake(vmid: number, state: LockState): void {
    while (state.waiters.length > 0) {
      const next = state.waiters[0] as Waiter;
      if (!this.compatible(state, next.shared)) break;
      state.waiters.shift();
      clearTimeout(next.timer);
      next.grant(this.take(vmid, state, next.shared));
    }
    if (state.holders === 0 && state.waiters.length === 0) this.locks.delete(vmid);
  }
}
