import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { platformEnv } from "./platform-env.js";

const execFileAsync = promisify(execFile);

/** A KubeConfig for the platform's API server, loaded the way users load theirs. */
export function platformKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(platformEnv().KUBECONFIG);
  return kc;
}

/** Runs the platform's kubectl with the platform's kubeconfig; rejects with kubectl's stderr. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  const env = platformEnv();
  const child = execFileAsync("kubectl", args, { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout } = await child;
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`, { cause: error });
  }
}

/** A DNS-1123 name unique to this process and call, for per-test namespaces and objects. */
export function uniqueName(prefix: string): string {
  const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1296).toString(36)}`;
  return `${prefix}-${suffix}`.toLowerCase();
}

/**
 * Removes a test namespace for good. The platform runs no namespace controller and no garbage
 * collector, so a plain delete leaves the namespace Terminating and everything in it in etcd,
 * ProxmoxVMs held by the operator's finalizer included. This drops those finalizers (the
 * operator is stopped by now), deletes what tests create, then finalizes the namespace itself.
 */
export async function deleteNamespace(namespace: string): Promise<void> {
  const ignoreMissing = (error: unknown) => {
    if (!/NotFound|the server doesn't have a resource type/.test(String(error))) throw error;
    return "";
  };
  const vms = (await kubectl(["get", "proxmoxvms", "-n", namespace, "-o", "name"]).catch(ignoreMissing)).split("\n").filter(Boolean);
  for (const vm of vms) await kubectl(["patch", vm, "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}']).catch(ignoreMissing);
  const kinds = "proxmoxvms,proxmoxconnections,secrets,configmaps,serviceaccounts,roles,rolebindings,leases,events";
  await kubectl(["delete", kinds, "--all", "-n", namespace, "--wait=false", "--ignore-not-found"]).catch(ignoreMissing);
  await kubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
  const live = await kubectl(["get", "namespace", namespace, "-o", "json"]).catch(ignoreMissing);
  if (!live) return;
  const ns = JSON.parse(live) as { spec?: { finalizers?: string[] } };
  await kubectl(["replace", "--raw", `/api/v1/namespaces/${namespace}/finalize`, "-f", "-"], JSON.stringify({ ...ns, spec: { ...ns.spec, finalizers: [] } })).catch(ignoreMissing);
}
