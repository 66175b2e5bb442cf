import type { ConnectionView } from "../../http/connection-view.js";
import type { CommandContext } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { render } from "../output.js";
import { getVm, listConnections, listVms } from "../vm-source.js";
import { toVmRow, vmTable } from "../vm-rows.js";

/** `get [VM]`: VMs with node, id, state, IP, readiness and their connection's health. */
export async function get(ctx: CommandContext, args: string[]): Promise<number> {
  const name = args[0];
  const namespace = name !== undefined ? ctx.namespace() : ctx.listNamespace();
  if (name !== undefined && ctx.options.allNamespaces) throw new CliError("get VM looks in one namespace: use -n, not -A", EXIT.usage);
  const [vms, connections] = await Promise.all([name !== undefined ? getVm(ctx, namespace!, name).then((vm) => [vm]) : listVms(ctx, namespace), connectionsOrUndefined(ctx, namespace)]);
  const rows = vms.map((vm) => toVmRow(vm, connections));
  const data = name !== undefined ? rows[0] : { items: rows };
  if (rows.length === 0 && ctx.options.output !== "json" && ctx.options.output !== "yaml") {
    ctx.io.err(namespace !== undefined ? `No ProxmoxVMs in namespace ${namespace}.\n` : "No ProxmoxVMs.\n");
    return EXIT.ok;
  }
  ctx.io.out(render(ctx.options.output, data, (wide) => vmTable(rows, { wide, showNamespace: namespace === undefined, now: ctx.now() })));
  return EXIT.ok;
}

/**
 * The connections' health is extra: when it cannot be read (the sidecar's connection cache still
 * loading, no RBAC for connections) the VMs still print, with the health unknown and a warning.
 */
async function connectionsOrUndefined(ctx: CommandContext, namespace: string | undefined): Promise<ConnectionView[] | undefined> {
  try {
    return await listConnections(ctx, namespace);
  } catch (error) {
    if (error instanceof CliError && (error.exitCode === EXIT.auth || error.exitCode === EXIT.unreachable)) throw error;
    ctx.io.err(`warning: connection health unknown: ${(error as Error).message}\n`);
    return undefined;
  }
}
