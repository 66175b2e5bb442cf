import { toVmView, type VmView } from "../events/views.js";
import type { ConnectionView } from "../http/connection-view.js";
import { vmPath, type CommandContext } from "./context.js";

/** VMs and connections from the sidecar when its URL is given, else from the Kubernetes API. */
export async function listVms(ctx: CommandContext, namespace: string | undefined): Promise<VmView[]> {
  if (ctx.sidecar) {
    const query = namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : "";
    return (await ctx.sidecar.get<{ items: VmView[] }>(`/api/v1/vms${query}`)).items;
  }
  return ctx.kube().listVms(namespace);
}

export async function getVm(ctx: CommandContext, namespace: string, name: string): Promise<VmView> {
  if (ctx.sidecar) return ctx.sidecar.get<VmView>(vmPath(namespace, name));
  return toVmView(await ctx.kube().getVmObject(namespace, name));
}

export async function listConnections(ctx: CommandContext, namespace: string | undefined): Promise<ConnectionView[]> {
  if (ctx.sidecar) {
    const query = namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : "";
    return (await ctx.sidecar.get<{ items: ConnectionView[] }>(`/api/v1/connections${query}`)).items;
  }
  return ctx.kube().listConnections(namespace);
}
