import type { RunView } from "../../events/views.js";
import { vmPath, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";
import { age, duration, none, render, table } from "../output.js";
import { oneLine } from "../vm-rows.js";

/** `runs VM`: the VM's runs, newest first. */
export async function runs(ctx: CommandContext, args: string[]): Promise<number> {
  const sidecar = ctx.requireSidecar("runs");
  const [name] = args as [string];
  const namespace = ctx.namespace();
  const items = await listRuns(ctx, namespace, name, ctx.options.limit);
  if (items.length === 0) {
    // No runs: say whether the VM exists at all (the 404 says "no ProxmoxVM ns/name").
    await sidecar.get(vmPath(namespace, name));
    if (ctx.options.output !== "json" && ctx.options.output !== "yaml") {
      ctx.io.err(`ProxmoxVM ${namespace}/${name} has no runs yet.\n`);
      return EXIT.ok;
    }
  }
  ctx.io.out(render(ctx.options.output, { items }, (wide) => runTable(items, { wide, now: ctx.now() })));
  return EXIT.ok;
}

export async function listRuns(ctx: CommandContext, namespace: string, name: string, limit: number): Promise<RunView[]> {
  const query = new URLSearchParams({ namespace, name, limit: String(limit) });
  return (await ctx.requireSidecar("runs").get<{ items: RunView[] }>(`/api/v1/runs?${query}`)).items;
}

/** "+1 ~0 -0", or empty before the run counted its changes. */
export function changeCounts(r: Pick<RunView, "addCount" | "changeCount" | "destroyCount">): string {
  if (r.addCount === null && r.changeCount === null && r.destroyCount === null) return "";
  return `+${r.addCount ?? 0} ~${r.changeCount ?? 0} -${r.destroyCount ?? 0}`;
}

export function runTable(items: readonly RunView[], o: { wide: boolean; now: number }): string {
  const headers = ["ID", "ACTION", "STATUS", "REASON", "CHANGES", "CREATED", "DURATION"];
  if (o.wide) headers.push("GENERATION", "ATTEMPT", "ERROR");
  const rows = items.map((r) => {
    const row = [r.id, r.action, r.status, r.reason, none(changeCounts(r)), `${age(r.createdAt, o.now)} ago`, none(duration(r.startedAt, r.finishedAt))];
    if (o.wide) row.push(String(r.generation), String(r.attempt), none(oneLine(r.error ?? "")));
    return row;
  });
  return table(headers, rows);
}
