import type { RunView, VmView } from "../../events/views.js";
import type { ProxmoxVMObject } from "../../kube/types.js";
import { vmPath, type CommandContext } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { render } from "../output.js";
import { formatPlan, hasPlan, type RunPlan } from "../plan-format.js";
import { listRuns } from "./runs.js";

/** How many recent runs `plan` looks through for the last one that recorded a plan. */
const RECENT_RUNS = 10;

/** status.pendingPlan as the contract gives it (written by the worker while a plan waits). */
interface PendingPlan {
  runId: string;
  specHash?: string;
  summary?: string;
  changes?: string[];
}

/** `plan VM`: the pending plan's diff, else the last run's that has one (--run: that run's). */
export async function plan(ctx: CommandContext, args: string[]): Promise<number> {
  const [name] = args as [string];
  const namespace = ctx.namespace();
  if (!ctx.sidecar) return planFromStatus(ctx, namespace, name);
  const sidecar = ctx.sidecar;
  const vm = await sidecar.get<VmView>(vmPath(namespace, name));
  const pendingRunId = pendingRunOf(vm);
  const runId = ctx.options.run ?? pendingRunId;
  let chosen: { plan: RunPlan; run?: RunView } | undefined;
  if (runId !== undefined) {
    chosen = { plan: await sidecar.get<RunPlan>(`/api/v1/runs/${encodeURIComponent(runId)}/plan`) };
  } else {
    for (const run of await listRuns(ctx, namespace, name, RECENT_RUNS)) {
      const p = await sidecar.get<RunPlan>(`/api/v1/runs/${run.id}/plan`);
      if (hasPlan(p)) {
        chosen = { plan: p, run };
        break;
      }
    }
  }
  if (!chosen) throw new CliError(`ProxmoxVM ${namespace}/${name} has no run with a recorded plan among its last ${RECENT_RUNS}`, EXIT.notFound);
  const pending = pendingRunId !== undefined && chosen.plan.runId === pendingRunId;
  const data = { namespace, name, pending, ...(chosen.run ? { run: chosen.run } : {}), plan: chosen.plan };
  ctx.io.out(render(ctx.options.output, data, () => header(namespace, name, chosen.plan.runId, pending, chosen.run) + formatPlan(chosen.plan)));
  return EXIT.ok;
}

/**
 * The run whose plan waits for approval: status.pendingPlan, else (a sidecar whose VM view does
 * not carry it yet) the last run while the VM's Reconciling condition says AwaitingApproval.
 */
export function pendingRunOf(vm: VmView): string | undefined {
  const status = vm.status;
  if (status.pendingPlan?.runId) return status.pendingPlan.runId;
  const awaiting = status.conditions?.some((c) => c.type === "Reconciling" && c.reason === "AwaitingApproval");
  return awaiting ? status.lastRun?.id : undefined;
}

function header(namespace: string, name: string, runId: string, pending: boolean, run: RunView | undefined): string {
  if (pending) return `Plan of run ${runId} for ProxmoxVM ${namespace}/${name}: waits for approval (kubectl ptm approve ${name} -n ${namespace}, or discard)\n`;
  return `Plan of run ${runId} for ProxmoxVM ${namespace}/${name}${run ? ` (${run.action} ${run.status}, ${run.createdAt})` : ""}\n`;
}

/**
 * Without the sidecar only the ProxmoxVM's status is at hand: the pending plan's summary and its
 * first change lines (status.pendingPlan), or its counts (status.pendingApproval).
 */
async function planFromStatus(ctx: CommandContext, namespace: string, name: string): Promise<number> {
  const vm: ProxmoxVMObject = await ctx.kube().getVmObject(namespace, name);
  const status = vm.status as (ProxmoxVMObject["status"] & { pendingPlan?: PendingPlan }) | undefined;
  const pendingPlan = status?.pendingPlan;
  const approval = status?.pendingApproval;
  if (!pendingPlan && !approval) {
    throw new CliError(`ProxmoxVM ${namespace}/${name} has no plan waiting for approval; the last run's plan is kept by the sidecar: give its URL with --server or PTM_SERVER`, EXIT.notFound);
  }
  const runId = pendingPlan?.runId ?? approval!.runId;
  const summary = pendingPlan?.summary ?? `${approval!.add} to add, ${approval!.change} to change, ${approval!.destroy} to destroy`;
  const changes = pendingPlan?.changes ?? [];
  const data = { namespace, name, pending: true, runId, summary, changes };
  ctx.io.out(
    render(ctx.options.output, data, () =>
      [
        `Plan of run ${runId} for ProxmoxVM ${namespace}/${name}: waits for approval (kubectl ptm approve ${name} -n ${namespace})`,
        `Planned: ${summary}`,
        ...changes.map((c) => `  ${c}`),
        "(from the ProxmoxVM's status; the full diff needs the sidecar: --server or PTM_SERVER)",
      ].join("\n") + "\n",
    ),
  );
  return EXIT.ok;
}
