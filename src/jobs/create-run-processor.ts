import type { Redis } from "ioredis";
import type { Env } from "../config/env.js";
import { NodeSlots } from "./node-slots.js";
import { RunProcessor, type RunProcessorDeps } from "./run-processor.js";
import type { StateEncryption } from "./state-encryption.js";
import { VmIdAllocator } from "./vmid-allocator.js";

/** What the composition root builds once and shares between roles. */
export type RunProcessorParts = Pick<
  RunProcessorDeps,
  "vms" | "status" | "events" | "connections" | "hasher" | "runner" | "runs" | "workerId" | "logger" | "shutdownSignal" | "stream" | "metrics" | "outputs"
> &
  Partial<Pick<RunProcessorDeps, "plans">> & {
    /** State and plan encryption, and whether a VM with a cloud-init password may run without it. */
    stateEncryption: StateEncryption;
  };

/**
 * The worker's run processor as src/app.ts wires it; tests that need a worker of their own call
 * this too (with their own parts), so they cannot drift from the real wiring.
 */
export function createRunProcessor(env: Env, redis: Redis, parts: RunProcessorParts): RunProcessor {
  return new RunProcessor({
    ...parts,
    nodeSlots: new NodeSlots(redis, env.PTM_QUEUE_PREFIX),
    vmIds: new VmIdAllocator(redis, env.PTM_QUEUE_PREFIX),
    databaseUrl: env.DATABASE_URL,
    workdirRoot: env.PTM_WORKDIR_ROOT,
    runTimeoutMs: env.PTM_RUN_TIMEOUT,
    maxAttempts: env.PTM_MAX_ATTEMPTS,
    // The passphrase of earlier releases is a fallback inside stateEncryption (state-encryption.ts).
    stateEncryption: parts.stateEncryption,
    plaintextStateRefusal: parts.stateEncryption.plaintextRefusal(),
  });
}
