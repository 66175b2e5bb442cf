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
