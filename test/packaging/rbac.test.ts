import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { OperatorHarness, yamlOf } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { platformEnv } from "../support/platform-env.js";
import { waitFor } from "../support/wait.js";
import { renderChart } from "./chart-helpers.js";

const execFileAsync = promisify(execFile);

/**
 * The chart's RBAC, for real: its ServiceAccounts, (Cluster)Roles and bindings are created in the
 * API server, each role gets a token from the TokenRequest API, and the operator runs end to end
 * with nothing but those identities: controller, worker and sidecar each as their own account.
 */
const RBAC_KINDS = new Set(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
}

const vm = (name: string, connection = "pve") => proxmoxVm(name, { connectionRef: { name: connection }, memory: { dedicated: 1024 } });

/** A kubeconfig for the platform's API server that authenticates with `token` only. */
function tokenKubeConfig(token: string): KubeConfig {
  const admin = platformKubeConfig();
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "platform", server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: "service-account", token }],
    contexts: [{ name: "service-account", cluster: "platform", user: "service-account" }],
    currentContext: "service-account",
  });
  return kc;
}

describe("the chart's RBAC, with the operator running as its ServiceAccounts", () => {
  const h = new OperatorHarness({ roles: [] });
  guardOperatorHarness(h);
  const release = uniqueName("rbac");
  const releaseNamespace = `${release}-system`;
  let objects: Manifest[] = [];
  let account: { controller: string; worker: string; sidecar: string };
  let leaderElection: Record<string, string>;
  let stateKey: Record<string, string>;
  let controllerIdentity: string;

  /** kubectl auth can-i's answer ("yes"/"no"); it exits 1 for "no", so read stdout either way. */
  const canI = async (who: string, ...args: string[]): Promise<string> => {
    const command = ["auth", "can-i", `--as=system:serviceaccount:${releaseNamespace}:${who}`, ...args];
    const result = await execFileAsync("kubectl", command, { env: { ...process.env, ...platformEnv() } }).catch(
      (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout || `error: ${e.stderr}` }),
    );
    return result.stdout.trim();
  };

  beforeAll(async () => {
    await h.start();
    // The release may read Secrets in the VM namespace, and only the one the connection names.
    const rendered = (await renderChart(
      { rbac: { secretNamespaces: [h.namespace], secretNames: ["pve-token"] } },
      { namespace: releaseNamespace, releaseName: release },
    )) as Manifest[];
    objects = rendered.filter((o) => RBAC_KINDS.has(o.kind));
    // The leader-election settings the chart gives its pods (its ConfigMap), so the Lease the
    // controller uses is the one the chart's Role names.
    const config = rendered.find((o) => o.kind === "ConfigMap" && o.data?.PTM_LEASE_NAME) as Manifest & { data: Record<string, string> };
    leaderElection = {
      PTM_LEADER_ELECTION: config.data.PTM_LEADER_ELECTION!,
      PTM_LEASE_NAMESPACE: config.data.PTM_LEASE_NAMESPACE!,
      PTM_LEASE_NAME: config.data.PTM_LEASE_NAME!,
    };
    const accounts = objects.filter((o) => o.kind === "ServiceAccount").map((o) => o.metadata.name);
    const named = (role: string) => {
      const name = accounts.find((a) => a.endsWith(`-${role}`));
      if (!name) throw new Error(`the chart renders no ServiceAccount for the ${role}: ${accounts.join(", ")}`);
      return name;
    };
    account = { controller: named("controller"), worker: named("worker"), sidecar: named("sidecar") };

    await kubectl(["create", "namespace", releaseNamespace]);
    await kubectl(["apply", "-f", "-"], objects.map((o) => yamlOf(o)).join("\n"));
    const token = async (sa: string) => (await kubectl(["create", "token", sa, "-n", releaseNamespace, "--duration=1h"])).trim();

    const controller = await h.startApp(["controller"], {
      identity: tokenKubeConfig(await token(account.controller)),
      env: leaderElection,
    });
    controllerIdentity = controller.identity;
    // The state key Secret the chart lets the workers keep (rbac-state-key.yaml).
    stateKey = { PTM_STATE_KEY_SECRET: config.data.PTM_STATE_KEY_SECRET!, PTM_STATE_KEY_NAMESPACE: config.data.PTM_STATE_KEY_NAMESPACE! };
    await h.startApp(["worker"], { identity: tokenKubeConfig(await token(account.worker)), env: stateKey });
    await h.startApp(["sidecar"], {
      identity: tokenKubeConfig(await token(account.sidecar)),
      env: { PTM_SIDECAR_PORT: "0", PTM_SIDECAR_HOST: "127.0.0.1" },
    });
  }, 180_000);

  afterAll(async () => {
    await h.close();
    const clusterScoped = objects.filter((o) => o.kind.startsWith("Cluster"));
    for (const o of clusterScoped) await kubectl(["delete", o.kind.toLowerCase(), o.metadata.name, "--ignore-not-found"]).catch(() => undefined);
    // Roles the release made in the VM namespace go with that namespace (h.close()).
    await deleteNamespace(releaseNamespace);
  });

  it("creates, serves and deletes a VM with only those identities", async () => {
    await h.apply({ ...vm("least-privilege"), spec: { ...vm("least-privilege").spec, writeOutputsTo: { configMapName: "least-privilege-outputs" } } });
    const ready = await h.waitForReady("least-privilege", 1);
    expect(h.simVms().map((v) => v.vmid)).toEqual([ready?.status?.vmId]);
    // The worker wrote the outputs ConfigMap as its own account.
    const outputs = await waitFor("the outputs ConfigMap", async () => {
      const cm = await kubectl(["get", "configmap", "least-privilege-outputs", "-n", h.namespace, "-o", "json"]).catch(() => undefined);
      return cm ? (JSON.parse(cm) as { data: Record<string, string> }).data : undefined;
    });
    expect(outputs.vm_id).toBe(String(ready?.status?.vmId));

    // The worker created the state key Secret where the chart let it, as its own account.
    expect(stateKey.PTM_STATE_KEY_NAMESPACE).toBe(releaseNamespace);
    const key = JSON.parse(await kubectl(["get", "secret", stateKey.PTM_STATE_KEY_SECRET!, "-n", releaseNamespace, "-o", "json"])) as { data: Record<string, string> };
    expect(Buffer.from(Buffer.from(key.data.key!, "base64").toString(), "base64")).toHaveLength(32);

    // The controller holds its Lease where the chart let it.
    expect(leaderElection).toMatchObject({ PTM_LEADER_ELECTION: "true", PTM_LEASE_NAMESPACE: releaseNamespace });
    const lease = JSON.parse(await kubectl(["get", "lease", leaderElection.PTM_LEASE_NAME!, "-n", releaseNamespace, "-o", "json"])) as { spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).toBe(controllerIdentity);
    // Events were recorded as the operator.
    const events = JSON.parse(await kubectl(["get", "events", "-n", h.namespace, "--field-selector", "involvedObject.name=least-privilege", "-o", "json"])) as { items: unknown[] };
    expect(events.items.length).toBeGreaterThan(0);
    // The sidecar lists it, and the connection it uses, through its read-only account.
    const listed = (await (await fetch(`${h.sidecarUrl}/api/v1/vms`)).json()) as { items: { name: string }[] };
    expect(listed.items.map((i) => i.name)).toContain("least-privilege");
    const pve = await waitFor("the sidecar to list the Ready connection pve", async () => {
      const res = await fetch(`${h.sidecarUrl}/api/v1/connections`);
      if (res.status !== 200) return undefined;
      const found = ((await res.json()) as { items: { name: string; endpoint: string; ready: { status: string } }[] }).items.find((c) => c.name === "pve");
      return found?.ready.status === "True" ? found : undefined;
    });
    expect(pve.endpoint).toBe(h.sim.url);

    await kubectl(["delete", "-n", h.namespace, "pvm", "least-privilege", "--timeout=120s"]);
    expect(h.simVms()).toHaveLength(0);
  });

  it("says what to grant when a connection names a Secret the release may not read", async () => {
    await h.createConnection("elsewhere", { secretName: "other-token" });
    await h.apply(vm("forbidden-secret", "elsewhere"));
    const waiting = await h.waitForVm("forbidden-secret", (v) =>
      v?.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "SecretForbidden") === true,
    );
    const ready = waiting?.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.message).toContain(`Secret ${h.namespace}/other-token`);
    expect(ready?.message).toContain("rbac.secretNamespaces");
    expect(h.simVms()).toHaveLength(0);
    await kubectl(["delete", "-n", h.namespace, "pvm", "forbidden-secret", "--timeout=60s"]);
  });

  it("grants each account only what its role needs", async () => {
    const ns = h.namespace;
    const expectations: [string, string[], "yes" | "no"][] = [
      // Secrets: one named Secret, read only, in the granted namespace; nothing cluster-wide.
      [account.controller, ["get", "secrets/pve-token", "-n", ns], "yes"],
      [account.worker, ["get", "secrets/pve-token", "-n", ns], "yes"],
      [account.controller, ["get", "secrets/other-token", "-n", ns], "no"],
      [account.controller, ["list", "secrets", "--all-namespaces"], "no"],
      [account.controller, ["list", "secrets", "-n", ns], "no"],
      [account.controller, ["watch", "secrets", "-n", ns], "no"],
      [account.worker, ["get", "secrets/pve-token", "-n", "default"], "no"],
      [account.sidecar, ["get", "secrets/pve-token", "-n", ns], "no"],
      // The state key: the workers read it by name and create it, in the release namespace only.
      [account.worker, ["get", `secrets/${stateKey.PTM_STATE_KEY_SECRET}`, "-n", releaseNamespace], "yes"],
      [account.worker, ["create", "secrets", "-n", releaseNamespace], "yes"],
      [account.worker, ["get", "secrets/another", "-n", releaseNamespace], "no"],
      [account.worker, ["update", `secrets/${stateKey.PTM_STATE_KEY_SECRET}`, "-n", releaseNamespace], "no"],
      [account.controller, ["get", `secrets/${stateKey.PTM_STATE_KEY_SECRET}`, "-n", releaseNamespace], "no"],
      [account.sidecar, ["get", `secrets/${stateKey.PTM_STATE_KEY_SECRET}`, "-n", releaseNamespace], "no"],
      // The custom resources: the controller reconciles (and creates and deletes the VMs of
      // ProxmoxVMSets), the worker reads and finishes deletions, the sidecar only reads.
      [account.controller, ["watch", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.controller, ["update", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "yes"],
      [account.controller, ["create", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.controller, ["delete", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.worker, ["create", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.worker, ["delete", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.controller, ["watch", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.controller, ["patch", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.controller, ["update", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "yes"],
      [account.controller, ["delete", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.worker, ["get", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.sidecar, ["watch", "proxmoxvmsets.proxmox.terraform-manager.dev", "-n", ns], "no"],
      // The sidecar's admin endpoints approve and discard plans by annotating the VM; status stays the operator's.
      [account.sidecar, ["patch", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.sidecar, ["update", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "no"],
      [account.sidecar, ["delete", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "no"],
      // spec.writeOutputsTo: the worker writes ConfigMaps (Secrets only with rbac.outputSecrets,
      // off here); nobody deletes them (their owner reference does); the others do not touch them.
      [account.worker, ["create", "configmaps", "-n", ns], "yes"],
      [account.worker, ["update", "configmaps", "-n", ns], "yes"],
      [account.worker, ["get", "configmaps", "-n", ns], "yes"],
      [account.worker, ["delete", "configmaps", "-n", ns], "no"],
      [account.worker, ["create", "secrets", "-n", ns], "no"],
      [account.worker, ["update", "secrets", "-n", ns], "no"],
      [account.worker, ["list", "secrets", "-n", ns], "no"],
      [account.controller, ["create", "configmaps", "-n", ns], "no"],
      [account.sidecar, ["create", "secrets", "-n", ns], "no"],
      [account.worker, ["get", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      // (list: the VM ids other resources pinned, so an id is never given twice)
      [account.worker, ["list", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.worker, ["watch", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.sidecar, ["list", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.sidecar, ["patch", "proxmoxvms.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "no"],
      [account.sidecar, ["watch", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns], "yes"],
      [account.sidecar, ["get", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.sidecar, ["update", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "no"],
      [account.controller, ["update", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns], "no"],
      [account.controller, ["update", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "yes"],
      [account.worker, ["update", "proxmoxconnections.proxmox.terraform-manager.dev", "-n", ns, "--subresource=status"], "no"],
      // Leases only in the release namespace; other kinds not at all.
      [account.controller, ["update", `leases.coordination.k8s.io/${leaderElection.PTM_LEASE_NAME}`, "-n", releaseNamespace], "yes"],
      [account.controller, ["update", "leases.coordination.k8s.io/another-lease", "-n", releaseNamespace], "no"],
      [account.controller, ["update", "leases.coordination.k8s.io", "-n", "kube-system"], "no"],
      [account.worker, ["update", "leases.coordination.k8s.io", "-n", releaseNamespace], "no"],
      [account.controller, ["create", "pods", "-n", ns], "no"],
      [account.worker, ["create", "deployments.apps", "-n", ns], "no"],
      [account.controller, ["create", "customresourcedefinitions.apiextensions.k8s.io"], "no"],
      [account.controller, ["create", "clusterrolebindings.rbac.authorization.k8s.io"], "no"],
    ];
    const answers = await Promise.all(expectations.map(([who, args]) => canI(who, ...args)));
    const wrong = expectations
      .map(([who, args, want], i) => ({ who, question: args.join(" "), want, got: answers[i] }))
      .filter((e) => e.got !== e.want);
    expect(wrong).toEqual([]);
  });
});
