import { Queue, QueueEvents, type ConnectionOptions } from "bullmq";
import { z } from "zod";

/** Why a run was queued: the controller's reasons, and the sidecar's manual request. */
export const RunReasonSchema = z.enum(["create", "update", "drift", "approved", "delete", "manual"]);
export type RunReason = z.infer<typeof RunReasonSchema>;

/**
 * A job names a VM, never its spec: the worker reads the ProxmoxVM when it starts, so a queued
 * job always runs the newest desired state (a newer spec supersedes an older one for free), and
 * the job id is the VM's uid, so one VM has at most one job queued or running.
 */
export const RunJobSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  uid: z.string(),
  reason: RunReasonSchema,
});
export type RunJob = z.infer<typeof RunJobSchema>;

export const RUN_QUEUE = "runs";

export interface RunQueueOptions {
  connection: ConnectionOptions;
  prefix: string;
  maxAttempts: number;
}

export class RunQueue {
  readonly queue: Queue<RunJob>;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: RunQueueOptions) {
    this.queue = new Queue<RunJob>(RUN_QUEUE, { connection: options.connection, prefix: options.prefix });
  }

  /** Adds a run for the VM unless one is already queued or running. Returns whether it added one. */
  async enqueue(job: RunJob): Promise<boolean> {
    const existing = await this.queue.getJob(job.uid);
    if (existing) {
      const state = await existing.getState();
      if (state !== "completed" && state !== "failed" && state !== "unknown") return false;
      // A finished job that was kept blocks its id; clear it so the VM can run again.
      await existing.remove().catch(() => undefined);
    }
    await this.queue.add("run", job, {
      jobId: job.uid,
      attempts: this.options.maxAttempts,
      backoff: { type: "exponential", delay: 2000 },
      removeOnComplete: true,
      removeOnFail: true,
    });
    return true;
  }

  /** Whether a run for this VM (by uid) is queued, running or kept. */
  async has(uid: string): Promise<boolean> {
    return (await this.queue.getJob(uid)) !== undefined;
  }

  async depth(): Promise<Record<string, number>> {
    return this.queue.getJobCounts("waiting", "active", "delayed", "prioritized");
  }

  events(): QueueEvents {
    return new QueueEvents(RUN_QUEUE, { connection: this.options.connection, prefix: this.options.prefix });
  }

  close(): Promise<void> {
    return (this.closing ??= this.queue.close());
  }
}
