/**
 * Asynchronous tasks ("workers") the way Proxmox runs them: a request that forks a worker
 * answers at once with the task's UPID; the worker runs on, writing a log that ends in
 * `TASK OK`, `TASK WARNINGS: n` or `TASK ERROR: <message>`; GET .../tasks/{upid}/status reports
 * `running` until then and `stopped` with `exitstatus` afterwards.
 */
import { encodeUpid, type Upid } from "./upid.js";

/** A task: what its UPID encodes, plus how it went. */
export interface TaskRecord extends Upid {
  upid: string;
  status: "running" | "stopped";
  exitstatus?: string;
  endtime?: number;
  log: string[];
}

export interface TaskContext {
  readonly upid: string;
  log(line: string): void;
  warn(line: string): void;
  /**
   * The simulated work time of this task type (configurable, 0 in fast tests). Throws the
   * injected failure afterwards when fault injection picked this task to fail.
   */
  work(): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface TaskRunnerOptions {
  durationMs: (type: string) => number;
  failureRate: () => number;
  random: () => number;
  onChange: () => void;
  /** Called each time an injected failure is thrown (fault counting). */
  onInjectedFailure?: () => void;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const MAX_KEPT_TASKS = 500;

export class TaskRunner {
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly running = new Set<Promise<void>>();
  private pid = 0;
  private readonly bootTicks = Math.floor(Date.now() / 10) % 0x10000000;

  constructor(private readonly options: TaskRunnerOptions) {
    this.pid = 20000 + Math.floor(options.random() * 10000);
  }

  /** Starts a worker; returns its record and a promise settled when it ends. */
  start(
    node: string,
    type: string,
    id: string,
    user: string,
    body: (ctx: TaskContext) => Promise<void>,
  ): { task: TaskRecord; done: Promise<void> } {
    const pid = ++this.pid;
    const pstart = this.bootTicks + Math.floor(performance.now() / 10);
    const starttime = Math.floor(Date.now() / 1000);
    const upid = encodeUpid({ node, pid, pstart, starttime, type, id, user });
    const task: TaskRecord = { upid, node, pid, pstart, starttime, type, id, user, status: "running", log: [] };
    this.tasks.set(upid, task);
    this.trim();
    let warnings = 0;
    const injected = this.options.random() < this.options.failureRate();
    const ctx: TaskContext = {
      upid,
      log: (line) => {
        task.log.push(...line.split("\n"));
      },
      warn: (line) => {
        warnings++;
        task.log.push(`WARN: ${line}`);
      },
      sleep,
      work: async () => {
        const ms = this.options.durationMs(type);
        if (ms > 0) await sleep(ms);
        if (injected) {
          this.options.onInjectedFailure?.();
          throw new Error(`${type} failed: simulated failure (fault injection)`);
        }
      },
    };
    const done = (async () => {
      await Promise.resolve();
      try {
        await body(ctx);
        task.exitstatus = warnings > 0 ? `WARNINGS: ${warnings}` : "OK";
        task.log.push(warnings > 0 ? `TASK WARNINGS: ${warnings}` : "TASK OK");
      } catch (err) {
        const message = (err instanceof Error ? err.message : String(err)).trim().split("\n")[0] || "unknown error";
        for (const line of (err instanceof Error ? err.message : String(err)).trim().split("\n")) task.log.push(line);
        task.exitstatus = message;
        task.log.push(`TASK ERROR: ${message}`);
      } finally {
        task.status = "stopped";
        task.endtime = Math.floor(Date.now() / 1000);
        this.options.onChange();
      }
    })();
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
    return { task, done };
  }

  get(upid: string): TaskRecord | undefined {
    return this.tasks.get(upid);
  }

  list(): TaskRecord[] {
    return [...this.tasks.values()];
  }

  /** Resolves when every running task has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  load(tasks: TaskRecord[]): void {
    this.tasks.clear();
    for (const t of tasks) {
      // A worker that was running when the simulator stopped died with it, as on a real node.
      if (t.status === "running") {
        t.status = "stopped";
        t.exitstatus = "unexpected status";
      }
      this.tasks.set(t.upid, t);
    }
  }

  reset(): void {
    this.tasks.clear();
  }

  private trim(): void {
    if (this.tasks.size <= MAX_KEPT_TASKS) return;
    for (const [upid, t] of this.tasks) {
      if (this.tasks.size <= MAX_KEPT_TASKS) break;
      if (t.status === "stopped") this.tasks.delete(upid);
    }
  }
}
