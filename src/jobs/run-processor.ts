import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { ConditionType, Reason } from "../api/conditions.js";
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import { APPROVE_ANNOTATION } from "../api/group.js";
import type { ProxmoxVMStatus, StatusCondition } from "../api/status.js";
import { ConnectionProblem, type ConnectionResolver, type ResolvedConnection } from "../controller/connection-resolver.js";
import { describeSpecIssues } from "../controller/spec-issues.js";
import type { StackHasher } from "../controller/stack-hasher.js";
import type { EventPublisher } from "../events/publisher.js";
import { isNotFound } from "../kube/api-error.js";
import { findCondition, setCondition } from "../kube/conditions.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import { removeFinalizer } from "../kube/finalizers.js";
import type { StatusWriter } from "../kube/status-writer.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import { ProxmoxApiClient } from "../proxmox/api-client.js";
import type { Run, RunAction, RunStore } from "../store/run-store.js";
import { SynthesisError } from "../synth/synthesis-error.js";
import { workspaceName } from "../synth/workspace-name.js";
import type { Metrics } from "../telemetry/metrics.js";
import { TerraformError, type TerraformEvent, type TerraformRunner } from "../terraform/index.js";
import type { NodeSlots } from "./node-slots.js";
import { RunJobSchema, type RunJob } from "./run-queue.js";
import { RunLog } from "./run-log.js";
import type { VmIdAllocator } from "./vmid-allocator.js";

export interface RunProcessorDeps {
  vms: CustomObjects<ProxmoxVMObject>;
  status: StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>;
  events: EventRecorder;
  connections: ConnectionResolver;
  hasher: StackHasher;
  runner: TerraformRunner;
  runs: RunStore;
  nodeSlots: NodeSlots;
  vmIds: VmIdAllocator;
  redis: Redis;
  channel: string;
  databaseUrl: string;
  /** Where the runner keeps work directories; CA bundles go beside them. */
  workdirRoot: string;
  workerId: string;
  runTimeoutMs: number;
  maxAttempts: number;
  stateEncryptionPassphrase?: string;
  logger: Logger;
  /** Aborted when the worker must stop now (shutdown grace exceeded). */
  shutdownSignal: AbortSignal;
  /** The event stream (SSE): run start/finish and log lines. */
  stream?: EventPublisher;
  metrics?: Metrics;
}

export interface RunJobResult {
  outcome: "applied" | "no_changes" | "destroyed" | "forgotten" | "planned" | "skipped";
  runId?: string;
}

const VM_ADDRESS = "proxmox_virtual_environment_vm.vm";
/**
 * How long a waiting job trusts the node slot it read last time before it reads the VM and its
 * connection again: a node or limit changed while it waits is noticed at the latest this late
 * (or as soon as the old slot frees up).
 */
export const SLOT_HINT_TTL_MS = 15_000;

/** The node slot a job waits for: what it needs to ask Redis without reading Kubernetes. */
interface SlotWanted {
  conn: string;
  node: string;
  limit: number;
}

/** One BullMQ job: make one ProxmoxVM's VM match its current spec (or go away) through Terraform. */
export class RunProcessor {
  /**
   * Job id → the slot it waited for when it was last put back. A retry asks Redis for that slot
   * first and reads the VM, connection and Secret only once it has it (or the hint is old), so a
   * job that waits costs one Redis call per wake-up instead of three API requests.
   */
  private readonly waiting = new Map<string, SlotWanted & { at: number }>();

  constructor(private readonly d: RunProcessorDeps) {}

  async process(job: Job<RunJob>, token?: string): Promise<RunJobResult> {
    const data = RunJobSchema.parse(job.data);
    const holder = String(job.id);
    // The slot is only a hint: after it is granted the code below reads everything afresh (the
    // newest spec runs) and trades the slot for the right one if node or connection changed.
    let held: SlotWanted | undefined;
    const hint = this.waiting.get(holder);
    if (hint && Date.now() - hint.at < SLOT_HINT_TTL_MS) {
      if (!(await this.d.nodeSlots.tryAcquire(hint.conn, hint.node, holder, hint.limit))) return this.waitForSlot(job, token, hint, hint.at);
      held = hint;
    }
    this.waiting.delete(holder);
    try {
      return await this.processJob(job, token, data, held);
    } catch (error) {
      if (held && !(error instanceof DelayedError)) await this.d.nodeSlots.release(held.conn, held.node, holder).catch(() => undefined);
      throw error;
    }
  }

  /** Puts the job back for 0.5–1.5 s without spending an attempt; the next try starts with `slot`. */
  private async waitForSlot(job: Job<RunJob>, token: string | undefined, slot: SlotWanted, since = Date.now()): Promise<never> {
    const now = Date.now();
    for (const [id, entry] of this.waiting) if (now - entry.at >= SLOT_HINT_TTL_MS) this.waiting.delete(id);
    this.waiting.set(String(job.id), { conn: slot.conn, node: slot.node, limit: slot.limit, at: since });
    // A retry costs one Redis call now, so waking often is cheap and a freed slot idles less.
    await job.moveToDelayed(now + 500 + Math.floor(Math.random() * 1000), token);
    throw new DelayedError();
  }

  private async processJob(job: Job<RunJob>, token: string | undefined, data: RunJob, held: SlotWanted | undefined): Promise<RunJobResult> {
    const holder = String(job.id);
    const giveBack = async () => {
      if (held) await this.d.nodeSlots.release(held.conn, held.node, holder).catch(() => undefined);
      held = undefined;
    };
    const log = this.d.logger.child({ vm: `${data.namespace}/${data.name}`, jobId: job.id, attempt: job.attemptsMade + 1 });
    let vm: ProxmoxVMObject;
    try {
      vm = await this.d.vms.get(data.namespace, data.name);
    } catch (error) {
      if (isNotFound(error)) {
        await giveBack();
        return { outcome: "skipped" };
      }
      throw error;
    }
    if (vm.metadata.uid !== data.uid) {
      await giveBack();
      return { outcome: "skipped" };
    }
    const deleting = Boolean(vm.metadata.deletionTimestamp);
    if (!deleting && vm.spec.suspend) {
      await giveBack();
      return { outcome: "skipped" };
    }
    const orphan = deleting && vm.spec.deletionPolicy === "Orphan";

    const parsed = ProxmoxVMSpecSchema.safeParse(vm.spec);
    if (!parsed.success) {
      await giveBack();
      if (orphan) return this.forgetWithoutSpec(vm);
      await this.stall(vm, Reason.InvalidSpec, describeSpecIssues(parsed.error));
      throw new UnrecoverableError("invalid spec");
    }
    const spec = parsed.data;

    let connection: ResolvedConnection | undefined;
    try {
      connection = await this.d.connections.resolve(vm.metadata.namespace, spec.connectionRef.name);
    } catch (error) {
      if (!(error instanceof ConnectionProblem)) throw error;
      if (!orphan) {
        await giveBack();
        await this.markWaiting(vm, error);
        // The controller queues a new run when the connection or Secret appears.
        throw new UnrecoverableError(error.message);
      }
    }

    if (!deleting && connection && (data.reason === "create" || data.reason === "update") && this.alreadyUpToDate(vm, spec, connection)) {
      // Level-based here too: a reconcile that read the VM before the previous run finished may
      // queue a run for a spec that run already applied. Drift, approved and manual runs always run.
      await giveBack();
      log.info("the VM already matches this spec: no run");
      return { outcome: "skipped" };
    }

    const wanted = connection ? { conn: connection.uid, node: spec.nodeName, limit: connection.spec.maxConcurrentJobsPerNode } : undefined;
    if (held && (!wanted || held.conn !== wanted.conn || held.node !== wanted.node || held.limit !== wanted.limit)) {
      // The VM or its connection changed while the job waited: that slot was the wrong one.
      await giveBack();
    }
    if (wanted && !held) {
      // The node is busy: wait without spending an attempt.
      if (!(await this.d.nodeSlots.tryAcquire(wanted.conn, wanted.node, holder, wanted.limit))) return this.waitForSlot(job, token, wanted);
    }
    const slot = wanted;
    const renew = slot ? setInterval(() => void this.d.nodeSlots.renew(slot.conn, slot.node, holder).catch(() => undefined), 15_000) : undefined;
    try {
      return await this.run(job, vm, spec, connection, deleting, orphan, log);
    } finally {
      clearInterval(renew);
      if (slot) await this.d.nodeSlots.release(slot.conn, slot.node, holder).catch(() => undefined);
    }
  }

  private alreadyUpToDate(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection): boolean {
    const status = vm.status;
    if (!status?.specHash || status.observedGeneration !== vm.metadata.generation) return false;
    if (findCondition(status.conditions, ConditionType.Ready)?.status !== "True") return false;
    const hashed = this.d.hasher.hash(vm, spec, connection.spec.endpoint);
    return hashed.ok && hashed.hash === status.specHash;
  }

  private async run(
    job: Job<RunJob>,
    vm: ProxmoxVMObject,
    spec: ProxmoxVMSpec,
    connection: ResolvedConnection | undefined,
    deleting: boolean,
    orphan: boolean,
    log: Logger,
  ): Promise<RunJobResult> {
    const { namespace, name, uid } = vm.metadata;
    const generation = vm.metadata.generation ?? 0;
    if (job.attemptsMade === 0) this.d.metrics?.observeQueueWait((Date.now() - job.timestamp) / 1000);

    // Pin the VM id before Terraform can create anything, so no retry or crash makes a second VM.
    let vmId = vm.status?.vmId ?? spec.vmId;
    const proxmox = connection ? this.proxmoxClient(connection) : undefined;
    // Set when this run has just seen that no VM has the id: Terraform never ran with an id that
    // was not pinned in status yet, so there is nothing to adopt and no need to ask Proxmox again.
    let knownAbsent = false;
    if (!deleting && connection && proxmox) {
      if (vmId === undefined) {
        vmId = await this.d.vmIds.allocate(connection.uid, uid, proxmox);
        knownAbsent = true;
        log.info({ vmId }, "allocated a VM id");
      } else if (vm.status?.vmId === undefined) {
        if (await proxmox.vmExists(spec.nodeName, vmId)) {
          // A user-chosen id that another VM already has: taking that VM over would be a surprise.
          const message = `spec.vmId ${vmId}: a VM with this id already exists on ${spec.nodeName}; choose a free id or leave vmId unset`;
          await this.stall(vm, Reason.InvalidSpec, message);
          throw new UnrecoverableError(message);
        }
        knownAbsent = true;
        await this.d.vmIds.claim(connection.uid, uid, vmId);
      } else {
        await this.d.vmIds.claim(connection.uid, uid, vmId);
      }
      if (vm.status?.vmId !== vmId) {
        const pinned = vmId;
        const updated = await this.d.status.update(namespace, name, (s) => ({ ...s, vmId: pinned, node: spec.nodeName }), uid);
        if (!updated) return { outcome: "skipped" };
        vm = updated;
      }
    }

    let synthesized;
    try {
      synthesized = this.d.hasher.synthesize({ ...vm, status: { ...vm.status, ...(vmId !== undefined ? { vmId } : {}) } }, spec, connection?.spec.endpoint ?? "");
    } catch (error) {
      if (error instanceof SynthesisError) {
        await this.stall(vm, Reason.InvalidSpec, error.message);
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }

    // The id is pinned in status and was free when pinned, so a VM with that id is this
    // ProxmoxVM's own. If a crashed run created it without recording it in state, adopt it
    // (an import block is a no-op when the resource is already in state).
    let configJson = synthesized.json;
    if (!deleting && proxmox && vmId !== undefined && !knownAbsent && (await proxmox.vmExists(spec.nodeName, vmId))) {
      configJson = withImport(synthesized.config, spec.nodeName, vmId);
    }

    const action: RunAction = orphan ? "forget" : deleting ? "destroy" : "apply";
    const run = await this.d.runs.start({
      namespace,
      name,
      uid,
      generation,
      specHash: synthesized.hash,
      action,
      reason: job.data.reason,
      attempt: job.attemptsMade + 1,
      jobId: String(job.id),
      worker: this.d.workerId,
    });
    await this.d.runs.failAbandoned(String(job.id), run.id);
    await this.d.stream?.run(run);
    const stream = this.d.stream;
    const runLog = new RunLog(run.id, this.d.runs, this.d.redis, this.d.channel, log, undefined, stream ? (batch) => stream.logs({ namespace, name }, batch) : undefined);
    runLog.append({ level: "info", type: "run", message: `${action} run started by ${this.d.workerId} (reason: ${job.data.reason}, attempt ${job.attemptsMade + 1})` });
    await this.d.events.record(vm, "Normal", "RunStarted", `${action} run ${run.id} started`);
    await this.writeRunStatus(vm, run, deleting ? Reason.Deleting : Reason.Planning, deleting ? "planning the VM's destruction" : "planning");

    const env = await this.runEnv(vm, spec, connection, synthesized.secretVariables);
    const abort = AbortSignal.any([this.d.shutdownSignal, AbortSignal.timeout(this.d.runTimeoutMs)]);
    let phaseReason: Reason = Reason.Planning;
    const onEvent = (e: TerraformEvent) => {
      runLog.append({ level: e.level, type: e.type, message: e.message, data: eventData(e) });
      if (e.type === "apply_start" && e.action === "create" && phaseReason !== Reason.Cloning) {
        phaseReason = Reason.Cloning;
        void this.writeRunStatus(vm, run, Reason.Cloning, "cloning the template and configuring the VM").catch(() => undefined);
      }
    };
    const runOptions = {
      workdirName: `${namespace}.${name}.${uid.slice(0, 8)}`,
      configJson,
      workspace: workspaceName(namespace, name),
      env: env.values,
      secrets: env.secrets,
      ...(this.d.stateEncryptionPassphrase ? { stateEncryptionPassphrase: this.d.stateEncryptionPassphrase } : {}),
      timeoutMs: this.d.runTimeoutMs,
      signal: abort,
      onEvent,
    };

    try {
      await this.timed("init", () => this.d.runner.prepare(runOptions));
      if (orphan) {
        await this.timed("state", () => this.d.runner.stateRemove(runOptions, VM_ADDRESS));
        const finished = await this.d.runs.finish(run.id, { status: "succeeded" });
        runLog.append({ level: "info", type: "run", message: "the VM is no longer managed (deletionPolicy: Orphan); it was kept on Proxmox" });
        await runLog.close();
        await this.runFinished(finished);
        await this.finishDeletion(vm, connection, vmId, finished, "Orphaned", "VM forgotten and kept on Proxmox (deletionPolicy: Orphan)");
        return { outcome: "forgotten", runId: run.id };
      }

      const plan = await this.timed("plan", () => this.d.runner.plan(runOptions, { destroy: deleting }));
      const observeOnly = !deleting && (spec.managementPolicy === "ObserveOnly" || (job.data.reason === "drift" && spec.driftDetection?.mode === "Report"));
      if (plan.hasChanges && observeOnly) {
        const finished = await this.d.runs.finish(run.id, { status: "succeeded", addCount: plan.changes.add, changeCount: plan.changes.change, destroyCount: plan.changes.remove });
        await runLog.close();
        await this.runFinished(finished);
        await this.reportDrift(vm, finished, plan.changes);
        return { outcome: "planned", runId: run.id };
      }
      const awaitingApproval = !deleting && plan.hasChanges && spec.approval === "Manual" && vm.metadata.annotations?.[APPROVE_ANNOTATION] !== synthesized.hash;
      if (awaitingApproval) {
        const finished = await this.d.runs.finish(run.id, { status: "succeeded", addCount: plan.changes.add, changeCount: plan.changes.change, destroyCount: plan.changes.remove });
        runLog.append({ level: "info", type: "run", message: "plan waits for approval (spec.approval: Manual)" });
        await runLog.close();
        await this.runFinished(finished);
        if (plan.planFile) await this.d.runner.discardPlan(plan.planFile);
        await this.awaitApproval(vm, finished, synthesized.hash, plan.changes);
        return { outcome: "planned", runId: run.id };
      }
      let counts = { add: 0, change: 0, remove: 0 };
      if (plan.hasChanges) {
        await this.writeRunStatus(vm, run, deleting ? Reason.Deleting : Reason.Applying, deleting ? "destroying the VM" : "applying");
        const applied = await this.timed("apply", () => this.d.runner.apply(runOptions, plan.planFile!));
        counts = { add: applied.changes.add, change: applied.changes.change, remove: applied.changes.remove };
      }
      if (deleting) {
        const finished = await this.d.runs.finish(run.id, { status: plan.hasChanges ? "succeeded" : "no_changes", addCount: counts.add, changeCount: counts.change, destroyCount: counts.remove });
        await runLog.close();
        await this.runFinished(finished);
        await this.finishDeletion(vm, connection, vmId, finished, "Destroyed", `VM ${vmId ?? ""} destroyed`);
        log.info({ runId: run.id, vmId }, "VM destroyed");
        return { outcome: "destroyed", runId: run.id };
      }
      const outputs = await this.timed("output", () => this.d.runner.output(runOptions));
      const finished = await this.d.runs.finish(run.id, {
        status: plan.hasChanges ? "succeeded" : "no_changes",
        addCount: counts.add,
        changeCount: counts.change,
        destroyCount: counts.remove,
      });
      runLog.append({ level: "info", type: "run", message: plan.hasChanges ? `applied: ${counts.add} added, ${counts.change} changed, ${counts.remove} destroyed` : "no changes" });
      await runLog.close();
      await this.runFinished(finished);
      await this.markReady(vm, spec, generation, synthesized.hash, finished, outputs);
      log.info({ runId: run.id, outcome: plan.hasChanges ? "applied" : "no_changes", ...counts }, "run finished");
      if (plan.hasChanges) await this.d.events.record(vm, "Normal", "Applied", `run ${run.id}: ${counts.add} added, ${counts.change} changed, ${counts.remove} destroyed`);
      return { outcome: plan.hasChanges ? "applied" : "no_changes", runId: run.id };
    } catch (error) {
      await this.failRun(job, vm, run, runLog, error, log);
      throw error instanceof TerraformError && error.kind === "permanent" ? new UnrecoverableError(error.message) : error;
    }
  }

  /** A finished run: counted, timed, and announced on the event stream (after its last log lines). */
  private async runFinished(run: Run): Promise<void> {
    if (run.startedAt && run.finishedAt) {
      this.d.metrics?.observeRun(run.action, run.status, (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
    }
    await this.d.stream?.run(run);
  }

  /** One tofu phase, timed for ptm_tofu_phase_duration_seconds. */
  private async timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await fn();
      this.d.metrics?.observeTofuPhase(phase, "ok", (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      this.d.metrics?.observeTofuPhase(phase, "error", (performance.now() - started) / 1000);
      throw error;
    }
  }

  private proxmoxClient(connection: ResolvedConnection): ProxmoxApiClient {
    return new ProxmoxApiClient({
      endpoint: connection.spec.endpoint,
      apiToken: connection.apiToken,
      insecureSkipTLSVerify: connection.spec.insecureSkipTLSVerify,
      ...(connection.caBundle ? { caBundle: connection.caBundle } : {}),
    });
  }

  /** The child environment for tofu; `secrets` are values the runner redacts from every line. */
  private async runEnv(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, connection: ResolvedConnection | undefined, secretVariables: string[]) {
    const values: Record<string, string> = { PG_CONN_STR: this.d.databaseUrl };
    const secrets = [this.d.databaseUrl];
    if (connection) {
      values.PROXMOX_VE_ENDPOINT = connection.spec.endpoint;
      values.PROXMOX_VE_API_TOKEN = connection.apiToken;
      values.PROXMOX_VE_INSECURE = String(connection.spec.insecureSkipTLSVerify);
      secrets.push(connection.apiToken);
      if (connection.caBundle) {
        // A CA bundle is public; Go's TLS stack reads SSL_CERT_FILE.
        const dir = path.join(this.d.workdirRoot, "ca");
        await mkdir(dir, { recursive: true });
        const file = path.join(dir, `${connection.uid}.pem`);
        await writeFile(file, connection.caBundle);
        values.SSL_CERT_FILE = file;
      }
    }
    if (secretVariables.includes("cloud_init_password")) {
      const ref = spec.initialization?.userAccount?.passwordSecretRef;
      if (ref) {
        const password = await this.d.connections.readSecretKey(vm.metadata.namespace, ref.name, ref.key, `ProxmoxVM ${vm.metadata.name}`);
        values.TF_VAR_cloud_init_password = password;
        secrets.push(password);
      } else {
        // Destroying without the Secret: any value satisfies the variable.
        values.TF_VAR_cloud_init_password = "unused";
      }
    }
    return { values, secrets };
  }

  private async writeRunStatus(vm: ProxmoxVMObject, run: Run, reason: Reason, message: string): Promise<void> {
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => ({
        ...s,
        state: reason === Reason.Deleting ? "Deleting" : s.specHash ? (s.state ?? "Provisioning") : "Provisioning",
        lastRun: { id: run.id, action: run.action === "forget" ? "destroy" : run.action, result: "running", ...(run.startedAt ? { startedAt: run.startedAt } : {}) },
        conditions: withReadyProgress(
          setCondition(s.conditions, {
            type: ConditionType.Reconciling,
            status: "True",
            reason,
            message: `${message} (run ${run.id})`,
            observedGeneration: vm.metadata.generation,
          }),
          reason,
          message,
        ),
      }),
      vm.metadata.uid,
    );
  }

  private async markReady(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, generation: number, hash: string, run: Run, outputs: Record<string, unknown>): Promise<void> {
    const vmId = Number(outputs.vm_id ?? vm.status?.vmId);
    const ips = Array.isArray(outputs.ipv4_addresses) ? (outputs.ipv4_addresses as unknown[]).map(String) : [];
    const node = typeof outputs.node_name === "string" ? outputs.node_name : spec.nodeName;
    const message = `VM ${vmId} on ${node}${ips.length ? ` at ${ips.join(", ")}` : ""} matches generation ${generation}`;
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => {
        let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "True", reason: Reason.Provisioned, message, observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Synced, status: "True", reason: Reason.UpToDate, message: `run ${run.id} ${run.status === "no_changes" ? "found no changes" : "applied"}`, observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.UpToDate, message: "", observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Stalled, status: "False", reason: Reason.UpToDate, message: "", observedGeneration: generation });
        return {
          ...s,
          state: spec.started === false ? "Stopped" : "Running",
          observedGeneration: generation,
          vmId,
          node,
          ipAddresses: ips,
          specHash: hash,
          lastRun: lastRunOf(run),
          pendingApproval: undefined,
          conditions,
        };
      },
      vm.metadata.uid,
    );
  }

  private async awaitApproval(vm: ProxmoxVMObject, run: Run, hash: string, changes: { add: number; change: number; remove: number }): Promise<void> {
    const summary = `${changes.add} to add, ${changes.change} to change, ${changes.remove} to destroy`;
    const message = `plan ${run.id} waits for approval (${summary}): kubectl annotate pvm ${vm.metadata.name} ${APPROVE_ANNOTATION}=${hash} --overwrite`;
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => ({
        ...s,
        pendingApproval: { hash, runId: run.id, add: changes.add, change: changes.change, destroy: changes.remove },
        lastRun: lastRunOf(run),
        conditions: setCondition(s.conditions, {
          type: ConditionType.Reconciling,
          status: "False",
          reason: Reason.AwaitingApproval,
          message,
          observedGeneration: vm.metadata.generation,
        }),
      }),
      vm.metadata.uid,
    );
    await this.d.events.record(vm, "Normal", Reason.AwaitingApproval, message);
  }

  private async reportDrift(vm: ProxmoxVMObject, run: Run, changes: { add: number; change: number; remove: number }): Promise<void> {
    const message = `Proxmox differs from the spec: ${changes.add} to add, ${changes.change} to change, ${changes.remove} to destroy (not applied: ${vm.spec.managementPolicy === "ObserveOnly" ? "managementPolicy ObserveOnly" : "driftDetection.mode Report"}; see run ${run.id})`;
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => {
        let conditions = setCondition(s.conditions, { type: ConditionType.Synced, status: "False", reason: Reason.DriftDetected, message, observedGeneration: vm.metadata.generation });
        conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason: Reason.DriftDetected, message: "", observedGeneration: vm.metadata.generation });
        if (vm.spec.managementPolicy === "ObserveOnly") {
          // Nothing will make it match: say so on Ready instead of leaving "waiting for a worker".
          // (Report mode keeps Ready as it is: the VM was made as written; it has since drifted.)
          conditions = setCondition(conditions, { type: ConditionType.Ready, status: "False", reason: Reason.DriftDetected, message, observedGeneration: vm.metadata.generation });
        }
        return { ...s, lastRun: lastRunOf(run), conditions };
      },
      vm.metadata.uid,
    );
    await this.d.events.record(vm, "Warning", Reason.DriftDetected, message);
  }

  private async finishDeletion(vm: ProxmoxVMObject, connection: ResolvedConnection | undefined, vmId: number | undefined, run: Run, reason: string, message: string) {
    if (connection && vmId !== undefined) await this.d.vmIds.release(connection.uid, vm.metadata.uid, vmId);
    await this.d.events.record(vm, "Normal", reason, `${message} (run ${run.id})`);
    try {
      const fresh = await this.d.vms.get(vm.metadata.namespace, vm.metadata.name);
      if (fresh.metadata.uid === vm.metadata.uid) await removeFinalizer(this.d.vms, fresh);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async forgetWithoutSpec(vm: ProxmoxVMObject): Promise<RunJobResult> {
    await this.finishDeletion(vm, undefined, undefined, { id: "-" } as Run, "Orphaned", "resource deleted; the VM was kept (deletionPolicy: Orphan)");
    return { outcome: "forgotten" };
  }

  private async failRun(job: Job<RunJob>, vm: ProxmoxVMObject, run: Run, runLog: RunLog, error: unknown, log: Logger): Promise<void> {
    const te = error instanceof TerraformError ? error : undefined;
    const message = te?.message ?? (error instanceof Error ? error.message : String(error));
    const lockTimeout = /can't lock file|got timeout|state lock/i.test(message);
    const permanent = te?.kind === "permanent";
    const attempt = job.attemptsMade + 1;
    const lastAttempt = permanent || attempt >= (job.opts.attempts ?? this.d.maxAttempts);
    const reason = lockTimeout ? Reason.LockTimeout : te?.problem === "storage-full" ? Reason.InsufficientStorage : Reason.ApplyFailed;
    runLog.append({ level: "error", type: "run", message: `run failed (${te?.kind ?? "error"}): ${message}` });
    const finished = await this.d.runs.finish(run.id, { status: "failed", error: message, errorKind: te?.kind ?? "error" }).catch(() => run);
    await runLog.close().catch((e: unknown) => log.warn({ err: e }, "run log incomplete"));
    if (finished !== run) await this.runFinished(finished);
    const detail = permanent
      ? te?.hint
        ? `${message} — ${te.hint}. Retrying cannot help: change the spec, or once it is fixed elsewhere ask for a run (sidecar: POST /api/v1/namespaces/${vm.metadata.namespace}/vms/${vm.metadata.name}/reconcile)`
        : `${message} — fix the spec; retrying cannot help`
      : lastAttempt
        ? `${message} — gave up after ${attempt} attempts; the controller tries again later`
        : `${message} — attempt ${attempt} of ${job.opts.attempts ?? this.d.maxAttempts}, retrying with backoff`;
    log.warn({ runId: run.id, kind: te?.kind, permanent, lastAttempt }, "run failed");
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => {
        const generation = vm.metadata.generation;
        let conditions = setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message: detail, observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Stalled, status: permanent ? "True" : "False", reason, message: permanent ? detail : "", observedGeneration: generation });
        conditions = setCondition(conditions, {
          type: ConditionType.Reconciling,
          status: lastAttempt ? "False" : "True",
          reason,
          message: lastAttempt ? "" : "retrying",
          observedGeneration: generation,
        });
        return { ...s, state: lastAttempt ? "Failed" : s.state, lastRun: lastRunOf(finished), conditions };
      },
      vm.metadata.uid,
    );
    await this.d.events.record(vm, "Warning", reason, detail);
  }

  private async stall(vm: ProxmoxVMObject, reason: Reason, message: string): Promise<void> {
    const generation = vm.metadata.generation;
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => {
        let conditions = setCondition(s.conditions, { type: ConditionType.Stalled, status: "True", reason, message, observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Ready, status: "False", reason, message, observedGeneration: generation });
        conditions = setCondition(conditions, { type: ConditionType.Reconciling, status: "False", reason, message: "", observedGeneration: generation });
        return { ...s, state: "Failed", observedGeneration: generation, conditions };
      },
      vm.metadata.uid,
    );
    await this.d.events.record(vm, "Warning", reason, message);
  }

  private async markWaiting(vm: ProxmoxVMObject, problem: ConnectionProblem): Promise<void> {
    const reason = problem.reason === "InvalidSpec" ? Reason.InvalidSpec : (problem.reason as Reason);
    await this.d.status.update(
      vm.metadata.namespace,
      vm.metadata.name,
      (s) => ({
        ...s,
        conditions: setCondition(setCondition(s.conditions, { type: ConditionType.Ready, status: "False", reason, message: problem.message }), {
          type: ConditionType.Reconciling,
          status: "False",
          reason,
          message: "",
        }),
      }),
      vm.metadata.uid,
    );
  }
}

/**
 * While a run works, a VM that is not Ready says what is happening on Ready too (kstatus
 * readers look there); a Ready VM being updated stays Ready: it keeps running meanwhile.
 */
function withReadyProgress(conditions: StatusCondition[], reason: Reason, message: string): StatusCondition[] {
  const ready = conditions.find((c) => c.type === ConditionType.Ready);
  if (ready?.status === "True" && reason !== Reason.Deleting) return conditions;
  return setCondition(conditions, { type: ConditionType.Ready, status: reason === Reason.Deleting ? "False" : "Unknown", reason, message });
}

function withImport(config: Record<string, unknown>, node: string, vmId: number): string {
  return JSON.stringify({ ...config, import: [{ to: VM_ADDRESS, id: `${node}/${vmId}` }] }, null, 2);
}

function lastRunOf(run: Run): NonNullable<ProxmoxVMStatus["lastRun"]> {
  return {
    id: run.id,
    action: run.action === "forget" ? "destroy" : run.action,
    result: run.status,
    ...(run.startedAt ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
  };
}

function eventData(e: TerraformEvent): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = { phase: e.phase };
  if (e.resource) data.resource = e.resource;
  if (e.action) data.action = e.action;
  if (e.elapsedSeconds !== undefined) data.elapsedSeconds = e.elapsedSeconds;
  if (e.changes) data.changes = e.changes;
  if (e.diagnostic) data.diagnostic = e.diagnostic;
  return data;
}
