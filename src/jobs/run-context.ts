import type { Logger } from "pino";
import type { ProxmoxVMSpec } from "../api/proxmox-vm.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { RunAction } from "../store/run-store.js";
import type { ResolvedConnection } from "../vm/connection-resolver.js";
import type { RunJob } from "../queue/run-queue.js";

/** The queue job behind a run, as far as the run needs to know it. */
export interface JobInfo {
  data: RunJob;
  id: string;
  /** 1-based attempt number of this try. */
  attempt: number;
  maxAttempts: number;
  /** When the job was first queued (epoch ms). */
  queuedAt: number;
}

/** Everything one run works with, decided once at admission. */
export interface RunContext {
  job: JobInfo;
  vm: ProxmoxVMObject;
  spec: ProxmoxVMSpec;
  /** Undefined only for an orphaning run whose connection is gone (it edits state only). */
  connection: ResolvedConnection | undefined;
  /** apply: make the VM match the spec; destroy: delete it; forget: drop it from state, keep it. */
  action: RunAction;
  log: Logger;
}

/** What a run ended with, for the queue adapter to turn into a BullMQ result or error. */
export type RunResult =
  | { kind: "done"; outcome: RunJobOutcome; runId?: string }
  /** Retrying cannot help; status already says why. */
  | { kind: "stalled"; message: string }
  /** The run failed; status and the run record say so. `retry`: the queue tries it again. */
  | { kind: "failed"; error: unknown; retry: boolean; message: string };

export type RunJobOutcome = "applied" | "no_changes" | "destroyed" | "forgotten" | "planned" | "skipped";
