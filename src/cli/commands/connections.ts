import type { ConnectionView } from "../../http/connection-view.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../errors.js";
import { age, none, render, table } from "../output.js";
import { listConnections } from "../vm-source.js";
import { oneLine } from "../vm-rows.js";

/** `connections`: ProxmoxConnections with endpoint, version, nodes and health. */
export async function connections(ctx: CommandContext): Promise<number> {
  const namespace = ctx.listNamespace();
  const items = await listConnections(ctx, namespace);
  if (items.length === 0 && ctx.options.output !== "json" && ctx.options.output !== "yaml") {
    ctx.io.err(namespace !== undefined ? `No ProxmoxConnections in namespace ${namespace}.\n` : "No ProxmoxConnections.\n");
    return EXIT.ok;
  }
  ctx.io.out(render(ctx.options.output, { items }, (wide) => connectionTable(items, { wide, showNamespace: namespace === undefined, now: ctx.now() })));
  return EXIT.ok;
}

export function connectionTable(items: readonly ConnectionView[], o: { wide: boolean; showNamespace: boolean; now: number }): string {
  const headers = [...(o.showNamespace ? ["NAMESPACE"] : []), "NAME", "ENDPOINT", "VERSION", "NODES", "READY", "REASON", "CHECKED"];
  if (o.wide) headers.push("MESSAGE");
  const rows = items.map((c) => {
    const nodes = c.nodeCount === null ? "<unknown>" : c.nodesOnline === null ? String(c.nodeCount) : `${c.nodesOnline}/${c.nodeCount}`;
    const row = [...(o.showNamespace ? [c.namespace] : []), c.name, none(c.endpoint), none(c.version), nodes, c.ready.status, c.ready.reason, c.lastCheckTime ? `${age(c.lastCheckTime, o.now)} ago` : "never"];
    if (o.wide) row.push(none(oneLine(c.ready.message)));
    return row;
  });
  return table(headers, rows);
}
