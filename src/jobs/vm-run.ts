import { Reason } from "../api/conditions.js";
import { APPROVE_ANNOTATION } from "../api/group.js";
import type { ProxmoxVMStatus } from "../api/status.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import type { StatusWriter } from "../kube/status-writer.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { PlanStore } from "../store/plan-store.js";
import type { Run } from "../store/run-store.js";
import type { SynthesisResult } from "../synth/synthesis-input.js";
import { SynthesisError } from "../synth/synthesis-error.js";
import { workspaceName } from "../synth/workspace-name.js";
import { describeForcingAttributes, REPLACEMENT_REQUIRED_HINT, TerraformError, type PlannedChange, type PlanResult } from "../terraform/index.js";
import type { ConnectionResolver } from "../vm/connection-resolver.js";
import { proxmoxClient } from "../vm/proxmox-client.js";
import type { ProxmoxApiClient } from "../proxmox/api-client.js";
import type { StackHasher } from "../vm/stack-hasher.js";
import type { OutputWriter } from "../vm/output-writer.js";
import { readObservedConfig, type ObservedConfig } from "../vm/observed-config.js";
import * as vmStatus from "../vm/status.js";
import { withAdoption, type Adoption } from "./adoption.js";
import { releaseDeletedVm } from "./deletion.js";
import { decideAfterPlan, planFactsOf } from "./plan-decision.js";
import type { RunContext, RunResult } from "./run-context.js";
import { classifyRunFailure } from "./run-failure.js";
import { RunRecord, type RunRecordDeps } from "./run-record.js";
import { configDigest, isStalePlan, pendingPlanStatus, recordDesired } from "./run-diffs.js";
import { annotationManager } from "../kube/annotation-manager.js";
import { readStackVariables, TofuSession, type TofuSessionDeps } from "./tofu-session.js";
import { pinVmId, type VmIdPinningDeps } from "./vm-id-pinning.js";

export interface VmRunDeps extends RunRecordDeps, TofuSessionDeps, VmIdPinningDeps {
  /** Each run's stack and diffs, and plans kept for approval; without it runs record neither. */
  plans?: PlanStore;
  vms: CustomObjects<ProxmoxVMObject>;
  status: StatusWriter<ProxmoxVMStatus, ProxmoxVMObject>;
  events: EventRecorder;
  connections: ConnectionResolver;
  hasher: StackHasher;
  workerId: string;
  /** Writes spec.writeOutputsTo after each successful run (src/vm/output-writer.ts). */
  outputs?: OutputWriter;
}

/** The VM as this run targets it: status with the pinned id, and whether Proxmox may already have it. */
interface Target {
  ctx: RunContext;
  vmId: number | undefined;
  knownAbsent: boolean;
  /** Set for apply runs: they ask Proxmox about the id before tofu runs. */
  proxmox?: ProxmoxApiClient;
  /** A newly chosen VM id's status change, written with the run's first progress (before tofu). */
  pin?: vmStatus.StatusChange;
}

/**
 * One admitted run, step by step: pin the VM id → synthesize → adopt what a crash left → record
 * the run → tofu init → plan → decide (report drift / await approval / apply / no changes) →
 * apply → outputs → status. Each step lives in its own module; this file only says the order.
 */
export class VmRun {
  constructor(private readonly d: VmRunDeps) {}

  async run(admitted: RunContext): Promise<RunResult> {
    const result = await this.runSteps(admitted);
    // The stack of a run that applied, or found nothing to do, is what the next desired change compares with.
    if (result.kind === "done" && (result.outcome === "applied" || result.outcome === "no_changes") && result.runId) {
      await this.d.plans?.markInEffect(result.runId).catch((error: unknown) => admitted.log.warn({ err: error }, "could not mark the run's stack in effect"));
    }
    return result;
  }

  private async runSteps(admitted: RunContext): Promise<RunResult> {
    const { job } = admitted;
    if (job.attempt === 1) this.d.metrics?.observeQueueWait((Date.now() - job.queuedAt) / 1000);

    let target: Target | RunResult;
    let configJson: string;
    let stack: SynthesisResult | { kind: "invalid"; message: string };
    try {
      target = await this.pinVmId(admitted);
      if ("kind" in target) return target;
      stack = this.synthesize(target);
      if ("kind" in stack) return await this.stall(target.ctx, Reason.InvalidSpec, stack.message);
      const adoption = await this.adopt(target, stack);
      if (adoption.kind === "foreign") return await this.stall(target.ctx, Reason.InvalidSpec, adoption.message);
      configJson = adoption.configJson;
    } catch (error) {
      // Before tofu and before a run record (Proxmox refused the token, cannot be reached, ...):
      // status and Events say so, so nothing is left at "waiting for a worker".
      return this.failBeforeRun(admitted, error);
    }
    const { ctx } = target;

    const record = await this.startRecord(ctx, stack.hash, stack.json);
    if (!(await this.firstProgress(ctx, record, target.pin))) {
      await record.finish({ status: "no_changes" }, "the ProxmoxVM was deleted before tofu started: nothing was run");
      return { kind: "done", outcome: "skipped" };
    }
    let tofu: TofuSession | undefined;
    try {
      tofu = await this.openTofu(ctx, record, configJson, stack);
      await tofu.init();
      if (ctx.action === "forget") return await this.forget(ctx, record, tofu, target.vmId);
      if (ctx.action === "apply" && job.data.reason === "approved") {
        const approved = await this.applyApprovedPlan(target, record, tofu, stack.hash);
        if (approved) return approved;
      }
      if (decideAfterPlan(planFactsOf(ctx, true, stack.hash)) === "apply") return await this.applyInOneStep(ctx, record, tofu, stack.hash, target.vmId);
      const plan = await this.plan(ctx, tofu, record);
      const planned = await this.recordPlanned(record, tofu, plan);
      switch (decideAfterPlan(planFactsOf(ctx, plan.hasChanges, stack.hash))) {
        case "report-drift":
          // Drift under approval: Manual is a plan a person can approve like any other.
          if (ctx.spec.approval === "Manual" && ctx.spec.managementPolicy !== "ObserveOnly") return await this.awaitApproval(target, record, tofu, plan, stack.hash, planned, true);
          return await this.reportDrift(ctx, record, plan);
        case "await-approval":
          return await this.awaitApproval(target, record, tofu, plan, stack.hash, planned);
        case "no-changes":
          return await this.finish(ctx, record, tofu, stack.hash, target.vmId, undefined);
        case "apply": {
          const applied = await tofu.apply(plan.planFile!);
          return await this.finish(ctx, record, tofu, stack.hash, target.vmId, applied.changes, applied.outputs);
        }
      }
    } catch (error) {
      await tofu?.applyStartSettled();
      return this.fail(ctx, record, error, target.vmId);
    }
  }

  private async pinVmId(ctx: RunContext): Promise<Target | RunResult> {
    const { vm, spec, connection } = ctx;
    if (ctx.action !== "apply" || !connection) return { ctx, vmId: vm.status?.vmId ?? spec.vmId, knownAbsent: false };
    const proxmox = proxmoxClient(connection);
    const pin = await pinVmId(this.d, vm, spec, connection, proxmox, ctx.log);
    if (pin.kind === "taken") return this.stall(ctx, Reason.InvalidSpec, pin.message);
    if (!pin.pin) return { ctx: { ...ctx, vm: pin.vm }, vmId: pin.vmId, knownAbsent: pin.knownAbsent, proxmox };
    // The run goes on with the id as status will hold it once its first progress is written.
    const vmWithId = { ...pin.vm, status: pin.pin(pin.vm.status ?? {}) };
    return { ctx: { ...ctx, vm: vmWithId }, vmId: pin.vmId, knownAbsent: pin.knownAbsent, proxmox, pin: pin.pin };
  }

  private synthesize({ ctx, vmId }: Target): SynthesisResult | { kind: "invalid"; message: string } {
    const vm = vmId === undefined ? ctx.vm : { ...ctx.vm, status: { ...ctx.vm.status, vmId } };
    try {
      return this.d.hasher.synthesize(vm, ctx.spec, ctx.connection?.spec.endpoint ?? "", { allowDestroy: ctx.action !== "apply" });
    } catch (error) {
      if (error instanceof SynthesisError) return { kind: "invalid", message: error.message };
      throw error;
    }
  }

  private async adopt({ ctx, vmId, knownAbsent, proxmox }: Target, stack: SynthesisResult): Promise<Adoption> {
    if (!proxmox || vmId === undefined) return { kind: "config", configJson: stack.json };
    return withAdoption(stack.config, stack.json, proxmox, ctx.spec.nodeName, vmId, knownAbsent, ctx.vm.metadata.uid);
  }

  private async startRecord(ctx: RunContext, specHash: string, stackJson: string): Promise<RunRecord> {
    const { vm, job, action } = ctx;
    const record = await RunRecord.start(
      this.d,
      {
        namespace: vm.metadata.namespace,
        name: vm.metadata.name,
        uid: vm.metadata.uid,
        generation: vm.metadata.generation ?? 0,
        specHash,
        action,
        reason: job.data.reason,
        attempt: job.attempt,
        jobId: job.id,
        worker: this.d.workerId,
      },
      ctx.log,
    );
    if (this.d.plans) await recordDesired(this.d.plans, record.run.id, vm.metadata.uid, stackJson, ctx.log);
    record.append({ level: "info", type: "run", message: `${action} run started by ${this.d.workerId} (reason: ${job.data.reason}, attempt ${job.attempt})` });
    await this.d.events.record(vm, "Normal", "RunStarted", `${action} run ${record.run.id} started`);
    return record;
  }

  /**
   * The run's first status write: Planning (or Deleting), together with a newly chosen VM id so
   * the id is in status before tofu can create anything. False when the ProxmoxVM is gone.
   */
  private async firstProgress(ctx: RunContext, record: RunRecord, pin: vmStatus.StatusChange | undefined): Promise<boolean> {
    const deleting = ctx.action !== "apply";
    const progress = vmStatus.progressing(ctx.vm.metadata.generation, record.run, deleting ? Reason.Deleting : Reason.Planning, deleting ? "planning the VM's destruction" : "planning");
    const change: vmStatus.StatusChange = pin ? (s) => progress(pin(s)) : progress;
    const updated = await this.d.status.update(ctx.vm.metadata.namespace, ctx.vm.metadata.name, change, ctx.vm.metadata.uid);
    return updated !== undefined || pin === undefined;
  }

  private async openTofu(ctx: RunContext, record: RunRecord, configJson: string, stack: SynthesisResult): Promise<TofuSession> {
    const { namespace, name, uid } = ctx.vm.metadata;
    return TofuSession.open(this.d, {
      workdirName: `${namespace}.${name}.${uid.slice(0, 8)}`,
      workspace: workspaceName(namespace, name),
      configJson,
      connection: ctx.connection,
      variables: await readStackVariables(this.d.connections, ctx, stack.secretVariables),
      record,
      onApplyStart: (action) => {
        const [reason, message] = action === "create" ? [Reason.Cloning, "cloning the template and configuring the VM"] : applyProgress(ctx);
        return this.progress(ctx, record.run, reason, message);
      },
    });
  }

  /**
   * A run whose plan no one must see first: plan and apply in one tofu process (a refused
   * replacement handled by untaintedRetry()).
   */
  private async applyInOneStep(ctx: RunContext, record: RunRecord, tofu: TofuSession, hash: string, vmId: number | undefined): Promise<RunResult> {
    const result = await this.untaintedRetry(ctx, tofu, record, "applying", (destroy) => tofu.applyAuto(destroy));
    return this.finish(ctx, record, tofu, hash, vmId, result.hasChanges ? result.changes : undefined, result.outputs);
  }

  /** The plan, with a taint a failed run left cleared as in untaintedRetry(). */
  private plan(ctx: RunContext, tofu: TofuSession, record: RunRecord): Promise<PlanResult> {
    return this.untaintedRetry(ctx, tofu, record, "planning", (destroy) => tofu.plan(destroy));
  }

  /**
   * `step` (a plan, or a plan-and-apply); for an apply run, a step refused because it would
   * replace the VM that a failed create or update left tainted is made again after `untaint`: the
   * VM is this resource's own and is adopted in place. A replacement for any other reason stays
   * refused (prevent_destroy), naming the attributes that force it.
   */
  private async untaintedRetry<T>(ctx: RunContext, tofu: TofuSession, record: RunRecord, doing: string, step: (destroy: boolean) => Promise<T>): Promise<T> {
    try {
      return await step(ctx.action === "destroy");
    } catch (error) {
      if (ctx.action !== "apply" || !(error instanceof TerraformError) || error.problem !== "replacement-required") throw error;
      record.append({ level: "info", type: "run", message: `the plan would replace the VM: clearing a taint a failed run may have left, then ${doing} again` });
      if (!(await tofu.untaintVm())) throw await this.explainRefusal(tofu, record, error);
      return step(false);
    }
  }

  /** The refused replacement, with the attributes that force it (from the same plan without the guard). */
  private async explainRefusal(tofu: TofuSession, record: RunRecord, refusal: TerraformError): Promise<TerraformError> {
    let forcedBy: string;
    try {
      forcedBy = describeForcingAttributes(await tofu.replacements());
    } catch (error) {
      record.append({ level: "warn", type: "run", message: `could not tell which attributes force the replacement: ${(error as Error).message}` });
      return refusal;
    }
    record.append({ level: "error", type: "run", message: `the plan would replace the VM; forced by ${forcedBy}` });
    return new TerraformError({
      kind: "permanent",
      phase: "plan",
      exitCode: refusal.exitCode,
      fallbackMessage: `the plan would destroy and re-create the VM; forced by ${forcedBy}`,
      hint: REPLACEMENT_REQUIRED_HINT,
      problem: "replacement-required",
      cause: refusal,
    });
  }

  private async forget(ctx: RunContext, record: RunRecord, tofu: TofuSession, vmId: number | undefined): Promise<RunResult> {
    await tofu.forgetVm();
    const finished = await record.finish({ status: "succeeded" }, "the VM is no longer managed (deletionPolicy: Orphan); it was kept on Proxmox");
    await this.finishDeletion(ctx, vmId, finished, "Orphaned", "VM forgotten and kept on Proxmox (deletionPolicy: Orphan)");
    return { kind: "done", outcome: "forgotten", runId: finished.id };
  }

  private async reportDrift(ctx: RunContext, record: RunRecord, plan: PlanResult): Promise<RunResult> {
    const { vm, spec } = ctx;
    const finished = await record.finish({ status: "succeeded", ...planCounts(plan) });
    const observeOnly = spec.managementPolicy === "ObserveOnly";
    const message = `Proxmox differs from the spec: ${summary(plan.changes)} (not applied: ${observeOnly ? "managementPolicy ObserveOnly" : "driftDetection.mode Report"}; see run ${finished.id})`;
    const observed = vm.status?.vmId === undefined ? undefined : await this.observe(ctx, vm.status.node ?? spec.nodeName, vm.status.vmId);
    await this.writeStatus(ctx, vmStatus.driftReported(vm.metadata.generation, finished, message, observeOnly, observed));
    await this.d.events.record(vm, "Warning", Reason.DriftDetected, message);
    return { kind: "done", outcome: "planned", runId: finished.id };
  }

  /**
   * The plan waits: its diff goes to status (pendingPlan) and its file is kept with the run, so the
   * approval applies exactly what was shown. A plan file holds variable values: it is kept only
   * when tofu encrypts plans; otherwise the approved run plans again.
   */
  private async awaitApproval(
    { ctx, vmId, proxmox }: Target,
    record: RunRecord,
    tofu: TofuSession,
    plan: PlanResult,
    hash: string,
    planned: PlannedChange | undefined,
    /** A drift check's plan (driftDetection.mode Report): it puts Proxmox back to the spec. */
    drift = false,
  ): Promise<RunResult> {
    const { vm } = ctx;
    let kept = false;
    if (plan.planFile && this.d.plans && tofu.plansEncrypted) {
      try {
        const digest = await configDigest(proxmox, vm.status?.node ?? ctx.spec.nodeName, vmId);
        await this.d.plans.save(vm.metadata.uid, { runId: record.run.id, specHash: hash, plan: await tofu.readPlan(plan.planFile), proxmoxDigest: digest });
        kept = true;
      } catch (error) {
        record.append({ level: "warn", type: "run", message: `could not keep the plan for approval (the approved run will plan again): ${(error as Error).message}` });
      }
    } else if (plan.planFile) {
      record.append({ level: "info", type: "run", message: "the plan is not kept: plans are not encrypted, and a plan file holds variable values; the approved run plans again" });
    }
    const finished = await record.finish({ status: "succeeded", ...planCounts(plan) }, `plan waits for approval (spec.approval: Manual)${kept ? "; approving applies exactly this plan" : ""}`);
    if (plan.planFile) await tofu.discardPlan(plan.planFile);
    // The annotation approves the spec hash; once that hash was approved (this plan replaces a
    // stale or discarded one), only this plan's run id approves it: nothing unreviewed is applied.
    const approveWith = kept && vm.metadata.annotations?.[APPROVE_ANNOTATION] === hash ? finished.id : hash;
    const message = `${drift ? "Proxmox differs from the spec; " : ""}plan ${finished.id} waits for approval (${summary(plan.changes)}): kubectl annotate pvm ${vm.metadata.name} ${APPROVE_ANNOTATION}=${approveWith} --overwrite`;
    const pendingPlan = pendingPlanStatus(finished.id, hash, approveWith, plan.changes, planned);
    const waiting = vmStatus.awaitingApproval(vm.metadata.generation, finished, hash, plan.changes, message);
    await this.writeStatus(ctx, (s) => ({ ...waiting(s), pendingPlan }));
    await this.d.events.record(vm, drift ? "Warning" : "Normal", drift ? Reason.DriftDetected : Reason.AwaitingApproval, message);
    return { kind: "done", outcome: "planned", runId: finished.id };
  }

  /** The planned change of a saved plan, recorded with the run; a failure costs the diff, not the run. */
  private async recordPlanned(record: RunRecord, tofu: TofuSession, plan: PlanResult): Promise<PlannedChange | undefined> {
    if (!plan.planFile || !this.d.plans) return undefined;
    try {
      const planned = await tofu.showPlan(plan.planFile);
      await this.d.plans.recordPlanned(record.run.id, planned);
      return planned;
    } catch (error) {
      record.append({ level: "warn", type: "run", message: `could not read the plan's changes: ${(error as Error).message}` });
      return undefined;
    }
  }

  /**
   * An approved run applies the plan that was approved, as it was kept: never a new one. A plan
   * that no longer fits (Proxmox changed the VM since, or tofu finds state moved: "Saved plan is
   * stale") is set aside, and the run plans again and waits for a new approval. Undefined when no
   * plan of this stack is kept (plans are not encrypted): the run plans and applies as before.
   */
  private async applyApprovedPlan(target: Target, record: RunRecord, tofu: TofuSession, hash: string): Promise<RunResult | undefined> {
    const { ctx, vmId, proxmox } = target;
    const plans = this.d.plans;
    if (!plans || !tofu.plansEncrypted) return undefined;
    const saved = await plans.pending(ctx.vm.metadata.uid);
    const approval = ctx.vm.metadata.annotations?.[APPROVE_ANNOTATION];
    const shown = ctx.vm.status?.pendingPlan;
    const approver = annotationManager(ctx.vm, APPROVE_ANNOTATION) ?? "unknown";
    if (!saved || saved.specHash !== hash || (shown && (shown.runId !== saved.runId || (approval !== shown.approveWith && approval !== shown.runId)))) {
      // Approved, but not a plan anyone saw (it was discarded, or the spec moved on): show one first.
      record.append({ level: "info", type: "run", message: "no kept plan matches the approval: planning again for a new approval; nothing is applied" });
      const plan = await this.plan(ctx, tofu, record);
      const planned = await this.recordPlanned(record, tofu, plan);
      if (!plan.hasChanges) return this.finish(ctx, record, tofu, hash, vmId, undefined);
      return this.awaitApproval(target, record, tofu, plan, hash, planned);
    }
    const node = ctx.vm.status?.node ?? ctx.spec.nodeName;
    const planAgain = async (why: string): Promise<RunResult> => {
      await plans.decide(saved.runId, "stale", approver);
      record.append({ level: "warn", type: "run", message: `plan ${saved.runId} is stale: ${why}; nothing was applied, planning again for a new approval` });
      await this.d.events.record(ctx.vm, "Warning", "PlanStale", `plan ${saved.runId} approved by ${approver} was not applied: ${why}; a new plan waits for approval`);
      const plan = await this.plan(ctx, tofu, record);
      const planned = await this.recordPlanned(record, tofu, plan);
      if (!plan.hasChanges) return this.finish(ctx, record, tofu, hash, vmId, undefined);
      return this.awaitApproval(target, record, tofu, plan, hash, planned);
    };
    if (saved.proxmoxDigest !== undefined) {
      const now = await configDigest(proxmox, node, vmId);
      if (now !== saved.proxmoxDigest) return planAgain(now === undefined ? "Proxmox cannot say whether the VM changed since the plan" : "the VM changed on Proxmox since the plan was made");
    }
    await plans.linkPlan(record.run.id, saved.runId);
    record.append({ level: "info", type: "run", message: `applying plan ${saved.runId} as approved by ${approver} (no new plan)` });
    await this.d.events.record(ctx.vm, "Normal", "PlanApproved", `plan ${saved.runId} approved by ${approver}; applying it in run ${record.run.id}`);
    const planFile = await tofu.restorePlan(saved.plan);
    let applied;
    try {
      applied = await tofu.apply(planFile);
    } catch (error) {
      if (!isStalePlan(error)) throw error;
      return planAgain("the state changed since the plan was made (tofu: saved plan is stale)");
    }
    await plans.decide(saved.runId, "applied", approver);
    return this.finish(ctx, record, tofu, hash, vmId, applied.changes, applied.outputs);
  }

  /** After an apply (`applied` = its counts) or a plan with no changes (`applied` undefined). */
  private async finish(
    ctx: RunContext,
    record: RunRecord,
    tofu: TofuSession,
    hash: string,
    vmId: number | undefined,
    applied: vmStatus.PlanCounts | undefined,
    /** From the apply's own output; read with `tofu output` when there was no apply. */
    outputsOfApply?: Record<string, unknown>,
  ): Promise<RunResult> {
    const { vm, spec, log } = ctx;
    await tofu.applyStartSettled();
    const counts = applied ?? { add: 0, change: 0, remove: 0 };
    const outcome = { status: applied ? ("succeeded" as const) : ("no_changes" as const), addCount: counts.add, changeCount: counts.change, destroyCount: counts.remove };
    if (ctx.action === "destroy") {
      const finished = await record.finish(outcome);
      await this.finishDeletion(ctx, vmId, finished, "Destroyed", `VM ${vmId ?? ""} destroyed`);
      log.info({ runId: finished.id, vmId }, "VM destroyed");
      return { kind: "done", outcome: "destroyed", runId: finished.id };
    }
    const outputs = outputsOfApply ?? (await tofu.outputs());
    const finished = await record.finish(outcome, applied ? `applied: ${counts.add} added, ${counts.change} changed, ${counts.remove} destroyed` : "no changes");
    const ips = Array.isArray(outputs.ipv4_addresses) ? (outputs.ipv4_addresses as unknown[]).map(String) : [];
    const appliedVmId = Number(outputs.vm_id ?? vm.status?.vmId);
    const node = typeof outputs.node_name === "string" ? outputs.node_name : spec.nodeName;
    const appliedVm = {
      generation: vm.metadata.generation ?? 0,
      hash,
      vmId: appliedVmId,
      node,
      ipAddresses: ips,
      started: spec.started !== false,
      observed: await this.observe(ctx, node, appliedVmId),
    };
    await this.writeStatus(ctx, vmStatus.ready(appliedVm, finished));
    await this.d.outputs?.write(vm, spec, outputs, log);
    log.info({ runId: finished.id, outcome: applied ? "applied" : "no_changes", ...counts }, "run finished");
    if (applied) await this.d.events.record(vm, "Normal", "Applied", `run ${finished.id}: ${counts.add} added, ${counts.change} changed, ${counts.remove} destroyed`);
    return { kind: "done", outcome: applied ? "applied" : "no_changes", runId: finished.id };
  }

  /** The VM's config digest and power state now, for the next drift check to compare (src/vm/drift-probe.ts). */
  private async observe(ctx: RunContext, node: string, vmId: number): Promise<ObservedConfig | undefined> {
    if (!ctx.connection || !Number.isInteger(vmId)) return undefined;
    return readObservedConfig(proxmoxClient(ctx.connection), node, vmId);
  }

  private async fail(ctx: RunContext, record: RunRecord, error: unknown, vmId: number | undefined): Promise<RunResult> {
    const { vm, job } = ctx;
    const failure = classifyRunFailure({ error, attempt: job.attempt, maxAttempts: job.maxAttempts, namespace: vm.metadata.namespace, name: vm.metadata.name, runReason: job.data.reason });
    // (A refused replacement changed nothing: its message says so already.)
    if (failure.permanent && failure.reason !== Reason.ReplacementRequired && ctx.action === "apply" && vmId !== undefined && vm.status?.vmId !== undefined) {
      // Nothing is rolled back: what Proxmox made stays, and a spec fix applies to it in place.
      failure.detail += `. Nothing was rolled back: VM ${vmId}, if it was made on ${ctx.spec.nodeName}, is left as it is and the next spec change applies to it in place`;
    }
    const finished = await record.finishFailed(failure.message, failure.kind);
    ctx.log.warn({ runId: finished.id, kind: failure.kind, permanent: failure.permanent, lastAttempt: failure.lastAttempt }, "run failed");
    if (failure.keepsReady) await this.writeStatus(ctx, (s) => ({ ...s, lastRun: vmStatus.lastRunOf(finished) }));
    else await this.writeStatus(ctx, vmStatus.runFailed(vm.metadata.generation, finished, failure));
    await this.d.events.record(vm, "Warning", failure.reason, failure.detail);
    return { kind: "failed", error, retry: failure.retry, message: failure.message };
  }

  private async failBeforeRun(ctx: RunContext, error: unknown): Promise<RunResult> {
    const { vm, job } = ctx;
    const failure = classifyRunFailure({ error, attempt: job.attempt, maxAttempts: job.maxAttempts, namespace: vm.metadata.namespace, name: vm.metadata.name, runReason: job.data.reason });
    const detail = `before tofu started: ${failure.detail}`;
    ctx.log.warn({ kind: failure.kind, permanent: failure.permanent, reason: failure.reason }, "run failed before tofu started");
    if (!failure.keepsReady) await this.writeStatus(ctx, vmStatus.failedBeforeRun(vm.metadata.generation, { ...failure, detail }));
    await this.d.events.record(vm, "Warning", failure.reason, detail);
    return { kind: "failed", error, retry: failure.retry, message: failure.message };
  }

  private async finishDeletion(ctx: RunContext, vmId: number | undefined, run: Run, reason: string, message: string): Promise<void> {
    await releaseDeletedVm(this.d, ctx.vm, ctx.connection, vmId, `${message} (run ${run.id})`, reason);
  }

  private async stall(ctx: RunContext, reason: Reason, message: string): Promise<RunResult> {
    await this.writeStatus(ctx, vmStatus.stalled(ctx.vm.metadata.generation, reason, message));
    await this.d.events.record(ctx.vm, "Warning", reason, message);
    return { kind: "stalled", message };
  }

  private async progress(ctx: RunContext, run: Run, reason: Reason, message: string): Promise<void> {
    await this.writeStatus(ctx, vmStatus.progressing(ctx.vm.metadata.generation, run, reason, message));
  }

  private async writeStatus(ctx: RunContext, change: vmStatus.StatusChange): Promise<void> {
    await this.d.status.update(ctx.vm.metadata.namespace, ctx.vm.metadata.name, change, ctx.vm.metadata.uid);
  }
}

function planCounts(plan: PlanResult) {
  return { addCount: plan.changes.add, changeCount: plan.changes.change, destroyCount: plan.changes.remove };
}

function summary(changes: vmStatus.PlanCounts): string {
  return `${changes.add} to add, ${changes.change} to change, ${changes.remove} to destroy`;
}

/** What the apply step says it does: destroying, migrating (the spec names another node than the VM is on), or applying. */
function applyProgress(ctx: RunContext): [Reason, string] {
  if (ctx.action === "destroy") return [Reason.Deleting, "destroying the VM"];
  const from = ctx.vm.status?.node;
  if (ctx.spec.migrate && from && from !== ctx.spec.nodeName) return [Reason.Migrating, `migrating the VM from ${from} to ${ctx.spec.nodeName}`];
  return [Reason.Applying, "applying"];
}
