import { APPROVE_ANNOTATION } from "../../api/group.js";
import type { ProxmoxVMObject } from "../../kube/types.js";
import { vmPath, type CommandContext } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { render } from "../output.js";

interface ApprovalAnswer {
  runId: string;
  message: string;
  approved?: boolean;
  discarded?: boolean;
}

/** `approve VM [--run ID]`: the sidecar's approve endpoint, else the approve annotation. */
export async function approve(ctx: CommandContext, args: string[]): Promise<number> {
  const [name] = args as [string];
  const namespace = ctx.namespace();
  const answer = ctx.sidecar ? await postDecision(ctx, namespace, name, "approve") : await approveByAnnotation(ctx, namespace, name);
  ctx.io.out(render(ctx.options.output, answer, () => `ProxmoxVM ${namespace}/${name}: ${answer.message}\n`));
  return EXIT.ok;
}

/** `discard VM [--run ID]`: the sidecar's discard endpoint (the plan is dropped, nothing applies). */
export async function discard(ctx: CommandContext, args: string[]): Promise<number> {
  const [name] = args as [string];
  const namespace = ctx.namespace();
  ctx.requireSidecar("discard");
  const answer = await postDecision(ctx, namespace, name, "discard");
  ctx.io.out(render(ctx.options.output, answer, () => `ProxmoxVM ${namespace}/${name}: ${answer.message}\n`));
  return EXIT.ok;
}

function postDecision(ctx: CommandContext, namespace: string, name: string, decision: "approve" | "discard"): Promise<ApprovalAnswer> {
  const body = ctx.options.run !== undefined ? { runId: ctx.options.run } : {};
  return ctx.requireSidecar(decision).post<ApprovalAnswer>(`${vmPath(namespace, name)}/${decision}`, body);
}

/**
 * Without the sidecar: writes the stack hash the pending plan was made for into the approve
 * annotation, as `kubectl annotate` would (the controller then queues the approved run).
 */
async function approveByAnnotation(ctx: CommandContext, namespace: string, name: string): Promise<ApprovalAnswer> {
  const kube = ctx.kube();
  const vm = await kube.getVmObject(namespace, name);
  const pending = pendingOf(vm);
  if (!pending) throw new CliError(`ProxmoxVM ${namespace}/${name} has no plan waiting for approval`);
  if (ctx.options.run !== undefined && ctx.options.run !== pending.runId) {
    throw new CliError(`run ${ctx.options.run} is not the plan that waits for approval on ProxmoxVM ${namespace}/${name} (that is run ${pending.runId})`);
  }
  if (vm.metadata.annotations?.[APPROVE_ANNOTATION] === pending.hash) {
    return { approved: true, runId: pending.runId, message: `the plan of run ${pending.runId} is approved already; the operator applies it` };
  }
  await kube.approve(namespace, name, pending.hash);
  return { approved: true, runId: pending.runId, message: `approved the plan of run ${pending.runId} (annotation ${APPROVE_ANNOTATION}=${pending.hash}); the operator applies it next` };
}

/**
 * The pending plan and the annotation value that approves it: status.pendingPlan.approveWith (the
 * spec hash, or the run id when that hash was approved before), else the spec hash.
 */
function pendingOf(vm: ProxmoxVMObject): { runId: string; hash: string } | undefined {
  const status = vm.status as (ProxmoxVMObject["status"] & { pendingPlan?: { runId: string; specHash: string; approveWith?: string } }) | undefined;
  const plan = status?.pendingPlan;
  if (plan) return { runId: plan.runId, hash: plan.approveWith ?? status?.pendingApproval?.hash ?? plan.specHash };
  if (status?.pendingApproval) return { runId: status.pendingApproval.runId, hash: status.pendingApproval.hash };
  return undefined;
}
