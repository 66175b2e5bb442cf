import { vmPath, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";
import { render } from "../output.js";

/** `reconcile VM`: queues a run now (POST .../reconcile, admin token). */
export async function reconcile(ctx: CommandContext, args: string[]): Promise<number> {
  const [name] = args as [string];
  const namespace = ctx.namespace();
  const answer = await ctx.requireSidecar("reconcile").post<{ queued: boolean; message: string }>(`${vmPath(namespace, name)}/reconcile`);
  ctx.io.out(render(ctx.options.output, answer, () => `ProxmoxVM ${namespace}/${name}: ${answer.message}\n`));
  return EXIT.ok;
}
