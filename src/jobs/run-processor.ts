import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import type { ProxmoxVMStatus } from "../api/status.js";
import type { StatusWriter } from "../kube/status-writer.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import * as vmStatus from "../vm/status.js";
import { admit, type Admission, type AdmissionDeps } from "./admission.js";
import { NodeSlotLease, SlotHints, type NodeSlot } from "./node-slot-lease.js";
import type { NodeSlots } from "./node-slots.js";
import type { JobInfo, RunJobOutcome, RunResult } from "./run-context.js";
import { RunJobSchema, type RunJob } from "../queue/run-queue.js";
import { releaseDeletedVm } from "./deletion.js";
import { VmRun, type VmRunDeps } from "./vm-run.js";

export { SLOT_HINT_TTL_MS } from "./node-slot-lease.js";

export interface RunProcessorDeps extends VmRunDeps, AdmissionDeps {
  status: StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>;
  nodeSlots: NodeSlots;
  maxAttempts: number;
}

export interface RunJobResult {
  outcome: RunJobOutcome;
  runId?: string;
}

/**
 * The BullMQ side of a run: admits the job, holds its node slot, hands the run to VmRun and maps
 * what came back onto BullMQ — a result, `UnrecoverableError` (no retry: status says why) or
 * `DelayedError` (the node is busy: back in the queue without spending an attempt).
 */
export class RunProcessor {
  private readonly hints = new SlotHints();
  private readonly vmRun: VmRun;

  constructor(private readonly d: RunProcessorDeps) {
    this.vmRun = new VmRun(d);
  }

  async process(job: Job<RunJob>, token?: string): Promise<RunJobResult> {
    const data = RunJobSchema.parse(job.data);
    const holder = String(job.id);
    const lease = new NodeSlotLease(this.d.nodeSlots, holder);
    try {
      // The slot is only a hint: once granted, admission reads everything afresh (the newest spec
      // runs) and the lease trades it for the right one if node or connection changed.
      const hint = this.hints.fresh(holder);
      if (hint && !(await lease.tryAcquire(hint))) return await this.waitForSlot(job, token, hint, hint.since);
      this.hints.forget(holder);
      const info: JobInfo = { data, id: holder, attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? this.d.maxAttempts, queuedAt: job.timestamp };
      const log = this.d.logger.child({ vm: `${data.namespace}/${data.name}`, jobId: job.id, attempt: info.attempt });

      const admission = await admit(this.d, data);
      if (admission.kind !== "admitted") {
        await lease.release();
        return await this.notAdmitted(admission, log);
      }
      const { connection, spec } = admission;
      const wanted: NodeSlot | undefined = connection ? { conn: connection.uid, node: spec.nodeName, limit: connection.spec.maxConcurrentJobsPerNode } : undefined;
      if (!(await lease.hold(wanted))) return await this.waitForSlot(job, token, wanted!);
      lease.keepAlive();
      return toJobResult(await this.vmRun.run({ ...admission, job: info, log }));
    } finally {
      await lease.dispose();
    }
  }

  private async notAdmitted(admission: Exclude<Admission, { kind: "admitted" }>, log: VmRunDeps["logger"]): Promise<RunJobResult> {
    switch (admission.kind) {
      case "skip":
        log.info(`no run: ${admission.why}`);
        return { outcome: "skipped" };
      case "release-without-spec":
        await releaseDeletedVm(this.d, admission.vm, undefined, undefined, "resource deleted; the VM was kept (deletionPolicy: Orphan)", "Orphaned");
        return { outcome: "forgotten" };
      case "stall": {
        const { vm, reason, message } = admission;
        await this.d.status.update(vm.metadata.namespace, vm.metadata.name, vmStatus.stalled(vm.metadata.generation, reason, message), vm.metadata.uid);
        await this.d.events.record(vm, "Warning", reason, message);
        throw new UnrecoverableError(message);
      }
      case "wait": {
        const { vm, problem } = admission;
        await this.d.status.update(vm.metadata.namespace, vm.metadata.name, vmStatus.waiting(vm.metadata.generation, problem.reason, problem.message), vm.metadata.uid);
        // The controller queues a new run when the connection or Secret appears.
        throw new UnrecoverableError(problem.message);
      }
    }
  }

  /** Puts the job back for 0.5–1.5 s without spending an attempt; the next try starts with `slot`. */
  private async waitForSlot(job: Job<RunJob>, token: string | undefined, slot: NodeSlot, since = Date.now()): Promise<never> {
    const now = Date.now();
    this.hints.remember(String(job.id), slot, since, now);
    // A retry costs one Redis call now, so waking often is cheap and a freed slot idles less.
    await job.moveToDelayed(now + 500 + Math.floor(Math.random() * 1000), token);
    throw new DelayedError();
  }
}

function toJobResult(result: RunResult): RunJobResult {
  switch (result.kind) {
    case "done":
      return { outcome: result.outcome, ...(result.runId ? { runId: result.runId } : {}) };
    case "stalled":
      throw new UnrecoverableError(result.message);
    case "failed":
      throw result.retry ? result.error : new UnrecoverableError(result.message);
  }
}
