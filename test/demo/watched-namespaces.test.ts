import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as yamlOf } from "yaml";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { OperatorHarness } from "../support/operator-harness.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

/**
 * Which namespaces the demo's operator watches (scripts/demo): "demo" plus the kubectl context's
 * namespace, or what --namespace / --all-namespaces say; and that operator, started with the
 * PTM_NAMESPACE the script computes, picking up a newcomer's VM in the second namespace while
 * one in a namespace it does not watch stays untouched.
 */
const execFileAsync = promisify(execFile);
const demo = path.join(repoRoot, "scripts", "demo");

async function showNamespaces(args: string[], env: Record<string, string> = {}): Promise<{ ptmNamespace: string; text: string }> {
  const { stdout } = await execFileAsync(demo, ["--show-namespaces", ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
  const ptmNamespace = /^PTM_NAMESPACE=(.*)$/m.exec(stdout)?.[1];
  if (ptmNamespace === undefined) throw new Error(`scripts/demo --show-namespaces printed no PTM_NAMESPACE: ${stdout}`);
  return { ptmNamespace, text: stdout };
}

describe("scripts/demo --show-namespaces", () => {
  it("watches demo and the current kubectl context's namespace by default", async () => {
    const { stdout } = await execFileAsync("kubectl", ["config", "view", "--minify", "-o", "jsonpath={..namespace}"], { env: { ...process.env, ...platformEnv() } });
    const context = stdout.trim() || "default";
    const shown = await showNamespaces([]);
    expect(shown.ptmNamespace).toBe(context === "demo" ? "demo" : `demo,${context}`);
    expect(shown.text).toContain(`manage ProxmoxVMs in namespaces demo, ${context}`);
  });

  it("--namespace (repeatable) replaces the context's namespace; --all-namespaces watches every one", async () => {
    expect((await showNamespaces(["--namespace", "team-a", "-n", "team-b", "-n", "demo"])).ptmNamespace).toBe("demo,team-a,team-b");
    expect((await showNamespaces(["--namespace=team-a"], { PTM_DEMO_NAMESPACE: "playground" })).ptmNamespace).toBe("playground,team-a");
    const all = await showNamespaces(["--all-namespaces"]);
    expect(all.ptmNamespace).toBe("");
    expect(all.text).toContain("in every namespace");
  });

  it.each([
    [["--namespace", "Team_A"], "--namespace Team_A is not a namespace name"],
    [["--all-namespaces", "--namespace", "x"], "--namespace and --all-namespaces exclude each other"],
  ])("refuses %j", async (args, message) => {
    const failed = await execFileAsync(demo, ["--show-namespaces", ...args], { cwd: repoRoot }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toContain(message);
  });
});

describe("the demo's operator, with the namespaces scripts/demo computes", () => {
  // h.namespace plays "demo" (a real demo may run on this API server); `second` is the
  // newcomer's namespace, `unwatched` one the operator must leave alone.
  const h = new OperatorHarness({ roles: [] });
  guardOperatorHarness(h);
  const second = uniqueName("newcomer");
  const unwatched = uniqueName("elsewhere");
  let operatorLog = "";
  const vmManifest = path.join(repoRoot, "examples", "vm-small.yaml");
  const getVm = async (namespace: string, name: string) => JSON.parse(await kubectl(["get", "pvm", "-n", namespace, name, "-o", "json"])) as ProxmoxVMObject;

  beforeAll(async () => {
    await h.start();
    for (const namespace of [second, unwatched]) {
      await kubectl(["create", "namespace", namespace]);
      // As scripts/demo's connection_up does in each watched namespace (and here in the unwatched one too).
      await kubectl(["apply", "-n", namespace, "-f", "-"], [
        yamlOf({ apiVersion: "v1", kind: "Secret", metadata: { name: "pve-token", labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } }, stringData: { token: `PVEAPIToken=${h.sim.token}` } }),
        yamlOf({ apiVersion: "proxmox.terraform-manager.dev/v1alpha1", kind: "ProxmoxConnection", metadata: { name: "pve" }, spec: { endpoint: h.sim.url, tokenSecretRef: { name: "pve-token", key: "token" }, insecureSkipTLSVerify: true } }),
      ].join("---\n"));
    }
    const { ptmNamespace } = await showNamespaces(["--namespace", second], { PTM_DEMO_NAMESPACE: h.namespace });
    expect(ptmNamespace).toBe(`${h.namespace},${second}`);
    // As scripts/demo starts it: every role in one process (the sidecar on a free port).
    h.startOperatorProcess(["controller", "worker", "sidecar"], { name: "demo-operator", env: { PTM_NAMESPACE: ptmNamespace, PTM_SIDECAR_HOST: "127.0.0.1", PTM_SIDECAR_PORT: "0" } });
    operatorLog = h.logFiles().find((f) => f.endsWith("demo-operator.log"))!;
  }, 180_000);

  afterAll(async () => {
    await h.close();
    for (const namespace of [second, unwatched]) await deleteNamespace(namespace);
  });

  it("says on start which namespaces it manages", async () => {
    const line = await waitFor("the controller's start-up line", async () => (await readFile(operatorLog, "utf8").catch(() => "")).split("\n").find((l) => l.includes('"msg":"controller started"')), 120_000);
    const log = await readFile(operatorLog, "utf8");
    expect(log).toContain(`"msg":"managing ProxmoxVMs in namespaces ${h.namespace}, ${second}"`);
    expect(JSON.parse(line!)).toMatchObject({ watching: `namespaces ${h.namespace}, ${second}` });
  });

  it("brings up a VM applied in the second namespace; one in a namespace it does not watch gets no status", async () => {
    // The unwatched one first: were it picked up, it would be before the watched one is Ready.
    await kubectl(["apply", "-n", unwatched, "-f", vmManifest]);
    await kubectl(["apply", "-n", second, "-f", vmManifest]);
    const ready = await waitFor("web-small Ready in the second namespace", async () => {
      const vm = await getVm(second, "web-small");
      return vm.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && vm.status.observedGeneration === vm.metadata.generation ? vm : undefined;
    }, 240_000);
    expect(ready?.status?.vmId).toBeGreaterThan(0);
    expect(h.simVms().map((v) => v.conf.name)).toEqual(["web-small"]);

    const ignored = await getVm(unwatched, "web-small");
    expect(ignored.status).toBeUndefined();
    expect(ignored.metadata.finalizers ?? []).toEqual([]);
  });
});
