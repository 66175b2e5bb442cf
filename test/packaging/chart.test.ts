import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Metrics } from "../../src/telemetry/metrics.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";
import {
  chartDir,
  findObject,
  helm,
  kubeVersion,
  namespacedValuesFile,
  renderChart,
  requiredValuesFile,
  templateChart,
  withValuesFile,
  type Manifest,
} from "./chart-helpers.js";

const execFileAsync = promisify(execFile);

/**
 * The Helm chart, with the real helm (lint, template, schema), the platform's API server
 * (server-side dry run of every object, a real install and uninstall) and promtool (the rules).
 */

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  command: string[];
  args: string[];
  env: EnvVar[];
  securityContext: Record<string, unknown>;
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string }[];
  livenessProbe: { httpGet: { path: string; port: number } };
  readinessProbe: { httpGet: { path: string; port: number } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; emptyDir?: { sizeLimit?: string } }[];
  nodeSelector?: Record<string, string>;
  imagePullSecrets?: { name: string }[];
}
type Deployment = Manifest & {
  spec: { replicas: number; template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } };
};
type RbacRole = Manifest & { rules: Rule[] };
type Binding = Manifest & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };

const ROLES = ["controller", "worker", "sidecar"] as const;
/** The chart's own version (Chart.yaml), as its labels carry it. */
const chartVersion = (parseYaml(readFileSync(path.join(chartDir, "Chart.yaml"), "utf8")) as { version: string }).version;
const GROUP = "proxmox.terraform-manager.dev";

/** The API calls each role makes, verb by verb (src/kube, src/controller, src/jobs, src/http). */
const EXPECTED_RULES: Record<(typeof ROLES)[number], Rule[]> = {
  controller: [
    // create and delete: the VMs of ProxmoxVMSets (src/controller/vm-set-reconciler.ts).
    { apiGroups: [GROUP], resources: ["proxmoxvms"], verbs: ["get", "list", "watch", "patch", "create", "delete"] },
    { apiGroups: [GROUP], resources: ["proxmoxvmsets"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [GROUP], resources: ["proxmoxvmsets/status"], verbs: ["update"] },
    { apiGroups: [GROUP], resources: ["proxmoxvms/status"], verbs: ["update"] },
    { apiGroups: [GROUP], resources: ["proxmoxconnections"], verbs: ["get", "list", "watch"] },
    // The connection check writes each connection's health and inventory.
    { apiGroups: [GROUP], resources: ["proxmoxconnections/status"], verbs: ["update"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create"] },
  ],
  worker: [
    { apiGroups: [GROUP], resources: ["proxmoxvms"], verbs: ["get", "list", "patch"] },
    { apiGroups: [GROUP], resources: ["proxmoxvms/status"], verbs: ["update"] },
    { apiGroups: [GROUP], resources: ["proxmoxconnections"], verbs: ["get"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create"] },
    // spec.writeOutputsTo.configMapName (src/vm/output-writer.ts); Secrets only with rbac.outputSecrets.
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create", "update"] },
  ],
  sidecar: [
    // Its informers: GET /api/v1/vms and /api/v1/connections.
    { apiGroups: [GROUP], resources: ["proxmoxvms", "proxmoxconnections"], verbs: ["list", "watch"] },
    // The admin endpoints approve and discard plans by annotating the VM.
    { apiGroups: [GROUP], resources: ["proxmoxvms"], verbs: ["patch"] },
  ],
};

const deployment = (objects: Manifest[], role: string) => findObject(objects, "Deployment", `-${role}`) as Deployment;
const container = (objects: Manifest[], role: string) => deployment(objects, role).spec.template.spec.containers[0]!;
const envOf = (objects: Manifest[], role: string, name: string) => container(objects, role).env.find((e) => e.name === name);
const rbacRoles = (objects: Manifest[]) => objects.filter((o): o is RbacRole => o.kind === "Role" || o.kind === "ClusterRole");
const bindings = (objects: Manifest[]) => objects.filter((o): o is Binding => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding");
/** Access to Secrets other than the workers' own state key Secret (rbac-state-key.yaml, tested on its own). */
const grantsSecrets = (role: RbacRole) => !role.metadata.name.endsWith("-state-key") && role.rules.some((r) => r.resources?.includes("secrets"));
const configMap = (objects: Manifest[]) => findObject(objects, "ConfigMap", "-config") as Manifest & { data: Record<string, string> };

async function loadYamlFile(file: string): Promise<Record<string, unknown>> {
  return parseYaml(await readFile(file, "utf8")) as Record<string, unknown>;
}

describe("Chart.yaml", () => {
  it("names the chart, pins appVersion to package.json and requires Kubernetes 1.30+", async () => {
    const chart = await loadYamlFile(path.join(chartDir, "Chart.yaml"));
    const pkg = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
    // The chart is released with the operator: one version for both.
    expect(chart).toMatchObject({ apiVersion: "v2", name: "proxmox-terraform-manager", version: pkg.version, kubeVersion: ">=1.30.0-0" });
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.description).toEqual(expect.any(String));
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.keywords).toContain("proxmox");
  });

  it("ships the CRDs generated from src/api, byte for byte the same as crds/", async () => {
    for (const file of ["proxmox.terraform-manager.dev_proxmoxvms.yaml", "proxmox.terraform-manager.dev_proxmoxconnections.yaml", "proxmox.terraform-manager.dev_proxmoxvmsets.yaml"]) {
      const top = await readFile(path.join(repoRoot, "crds", file), "utf8");
      expect(await readFile(path.join(chartDir, "crds", file), "utf8"), file).toBe(top);
    }
  });
});

describe("helm lint --strict", () => {
  it.each([
    ["your own Redis and PostgreSQL (ci/default-values.yaml)", requiredValuesFile],
    ["no values at all (the bundled Redis and PostgreSQL)", path.join(chartDir, "values.yaml")],
    ["non-default values (one namespace, named Secrets, existing Secret, monitoring, replicas)", namespacedValuesFile],
  ])("passes with %s", async (_what, file) => {
    const result = await helm(["lint", "--strict", chartDir, "-f", file, "--kube-version", kubeVersion()]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe("helm template with your own Redis and PostgreSQL (ci/default-values.yaml)", () => {
  let objects: Manifest[];
  beforeAll(async () => {
    objects = await renderChart({}, { namespace: "ptm-system", releaseName: "ptm" });
  });

  it("renders three ServiceAccounts, Deployments and Services, and no monitoring objects", () => {
    const count = (kind: string) => objects.filter((o) => o.kind === kind).length;
    expect(count("ServiceAccount")).toBe(3);
    expect(count("Deployment")).toBe(3);
    expect(count("Service")).toBe(3);
    expect(count("ServiceMonitor")).toBe(0);
    expect(count("PrometheusRule")).toBe(0);
    expect(objects.filter((o) => o.metadata.labels?.grafana_dashboard)).toHaveLength(0);
    expect(objects.filter((o) => o.kind === "CustomResourceDefinition")).toHaveLength(0);
    for (const o of objects) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        "app.kubernetes.io/name": "proxmox-terraform-manager",
        "app.kubernetes.io/instance": "ptm",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": `proxmox-terraform-manager-${chartVersion}`,
      });
    }
  });

  it.each(ROLES)("runs the %s hardened: non-root 65532, read-only root, no privilege escalation, no capabilities", async (role) => {
    const pod = deployment(objects, role).spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const c = pod.containers[0]!;
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    // Writable paths are emptyDirs: tofu's work directories and /tmp (HOME).
    expect(c.volumeMounts.map((m) => m.mountPath).sort()).toEqual(["/tmp", "/var/lib/ptm/work"]);
    expect(pod.volumes.map((v) => v.emptyDir !== undefined)).toEqual(pod.volumes.map(() => true));
    expect(pod.volumes.length).toBeGreaterThanOrEqual(2);
    expect(c.command).toEqual(["node", "dist/src/main.js"]);
    expect(c.args).toEqual(["--role", role]);
    expect(pod.serviceAccountName).toBe(`ptm-proxmox-terraform-manager-${role}`);
    // The requests and limits the chart's values give this role, as rendered.
    const values = (await loadYamlFile(path.join(chartDir, "values.yaml"))) as Record<string, { resources: { requests: { memory: string }; limits: { memory: string } } }>;
    expect(c.resources.requests.memory).toBe(values[role]!.resources.requests.memory);
    expect(c.resources.limits.memory).toBe(values[role]!.resources.limits.memory);
    expect(c.resources.limits.memory).toMatch(/^\d+(Mi|Gi)$/);
    expect(envOf(objects, role, "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
  });

  it.each(ROLES)("gives the %s REDIS_URL and DATABASE_URL through secretKeyRef only", (role) => {
    const secretName = findObject(objects, "Secret", "terraform-manager").metadata.name;
    expect(envOf(objects, role, "REDIS_URL")).toEqual({ name: "REDIS_URL", valueFrom: { secretKeyRef: { name: secretName, key: "redis-url" } } });
    expect(envOf(objects, role, "DATABASE_URL")).toEqual({ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: secretName, key: "database-url" } } });
    // No URL or credential appears as a plain value anywhere in the pod spec or the ConfigMap.
    const text = JSON.stringify(deployment(objects, role)) + JSON.stringify(configMap(objects));
    expect(text).not.toMatch(/redis:\/\/|postgres:\/\/|placeholder-password/);
  });

  it("stores the URLs in the chart's Secret", () => {
    const secret = findObject(objects, "Secret", "terraform-manager") as Manifest & { data: Record<string, string> };
    const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    expect(Object.keys(decoded).sort()).toEqual(["database-url", "redis-url"]);
    expect(decoded["redis-url"]).toBe("redis://redis.example.invalid:6379");
    expect(decoded["database-url"]).toMatch(/^postgres:\/\/.*@postgres\.example\.invalid:5432\/ptm/);
  });

  it("probes, ports and role settings: sidecar /healthz + /readyz on 8080, controller and worker /healthz on 9090", () => {
    const sidecar = container(objects, "sidecar");
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: "/healthz", port: 8080 });
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: "/readyz", port: 8080 });
    expect(sidecar.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(envOf(objects, "sidecar", "PTM_SIDECAR_PORT")?.value).toBe("8080");
    for (const role of ["controller", "worker"]) {
      const c = container(objects, role);
      expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: 9090 });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: 9090 });
      expect(envOf(objects, role, "PTM_METRICS_PORT")?.value).toBe("9090");
    }
    expect(envOf(objects, "worker", "PTM_WORKER_CONCURRENCY")?.value).toBe("2");
    expect(deployment(objects, "controller").spec.replicas).toBe(2);
  });

  it("elects the controller's leader with a Lease in the release namespace, watching all namespaces", () => {
    const data = configMap(objects).data;
    expect(data).toMatchObject({ PTM_LEADER_ELECTION: "true", PTM_LEASE_NAMESPACE: "ptm-system", PTM_WORKDIR_ROOT: "/var/lib/ptm/work", HOME: "/tmp" });
    expect(data.PTM_NAMESPACE).toBeUndefined();
    const lease = findObject(objects, "Role", "-leader-election") as RbacRole;
    expect(lease.metadata.namespace).toBe("ptm-system");
    expect(lease.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: [data.PTM_LEASE_NAME], verbs: ["get", "update"] },
    ]);
    const binding = findObject(objects, "RoleBinding", "-leader-election") as Binding;
    expect(binding.subjects.map((s) => s.name)).toEqual(["ptm-proxmox-terraform-manager-controller"]);
  });

  it("gives workers longer to stop than PTM_SHUTDOWN_GRACE, so runs finish on SIGTERM", () => {
    const grace = configMap(objects).data.PTM_SHUTDOWN_GRACE!;
    expect(grace).toMatch(/^\d+s$/);
    expect(deployment(objects, "worker").spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(Number.parseInt(grace, 10));
  });

  it("grants each role exactly the verbs its code uses, cluster-wide, with no wildcard", () => {
    for (const role of ROLES) {
      const clusterRole = findObject(objects, "ClusterRole", `-${role}`) as RbacRole;
      expect(clusterRole.rules, role).toEqual(EXPECTED_RULES[role]);
      const binding = findObject(objects, "ClusterRoleBinding", `-${role}`) as Binding;
      expect(binding.roleRef).toMatchObject({ kind: "ClusterRole", name: clusterRole.metadata.name });
      expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: `ptm-proxmox-terraform-manager-${role}`, namespace: "ptm-system" }]);
    }
    for (const rule of rbacRoles(objects).flatMap((r) => r.rules)) {
      expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]).not.toContain("*");
    }
  });

  it("grants no Secret access at all by default", () => {
    expect(rbacRoles(objects).filter(grantsSecrets)).toEqual([]);
  });

  it("lets only workers read the state key Secret by name, and create it, in the release namespace", () => {
    const name = configMap(objects).data.PTM_STATE_KEY_SECRET;
    expect(configMap(objects).data).toMatchObject({ PTM_STATE_ENCRYPTION: "on", PTM_STATE_KEY_NAMESPACE: "ptm-system", PTM_ALLOW_PLAINTEXT_STATE: "false" });
    const role = findObject(objects, "Role", "-state-key") as RbacRole;
    expect(role.metadata.namespace).toBe("ptm-system");
    expect(role.rules).toEqual([
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      { apiGroups: [""], resources: ["secrets"], resourceNames: [name], verbs: ["get"] },
    ]);
    const binding = findObject(objects, "RoleBinding", "-state-key") as Binding;
    expect(binding.subjects.map((s) => s.name)).toEqual(["ptm-proxmox-terraform-manager-worker"]);
  });

  it("grants nothing for the state key with encryption off", async () => {
    const off = await renderChart({ stateEncryption: { mode: "off" } });
    expect(off.filter((o) => o.metadata.name.endsWith("-state-key"))).toEqual([]);
    expect(configMap(off).data.PTM_STATE_ENCRYPTION).toBe("off");
  });

  it("lets the worker write output Secrets (spec.writeOutputsTo.secretName) only with rbac.outputSecrets", async () => {
    const withSecrets = await renderChart({ rbac: { outputSecrets: true } });
    const worker = findObject(withSecrets, "ClusterRole", "-worker") as RbacRole;
    expect(worker.rules).toEqual([...EXPECTED_RULES.worker, { apiGroups: [""], resources: ["secrets"], verbs: ["create", "update"] }]);
    expect((findObject(withSecrets, "ClusterRole", "-controller") as RbacRole).rules).toEqual(EXPECTED_RULES.controller);
  });

  it("PodDisruptionBudgets only for roles with more than one replica", () => {
    const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget").map((o) => o.metadata.name).sort();
    expect(pdbs).toEqual(["ptm-proxmox-terraform-manager-controller", "ptm-proxmox-terraform-manager-worker"]);
  });

  it("a headless metrics Service per controller and worker, and the sidecar's Service on 8080", () => {
    for (const role of ["controller", "worker"]) {
      const svc = findObject(objects, "Service", `-${role}-metrics`) as Manifest & { spec: { clusterIP: string; ports: { name: string; port: number }[] } };
      expect(svc.spec.clusterIP).toBe("None");
      expect(svc.spec.ports).toEqual([{ name: "metrics", port: 9090, targetPort: "metrics", protocol: "TCP" }]);
    }
    const sidecar = findObject(objects, "Service", "-sidecar") as Manifest & { spec: { ports: unknown[] } };
    expect(sidecar.spec.ports).toEqual([{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
  });

  it("rolls the pods when a setting changes (checksum annotation)", async () => {
    const changed = await renderChart({ config: { logLevel: "debug" } });
    for (const role of ROLES) {
      const before = deployment(objects, role).spec.template.metadata.annotations["checksum/config"];
      const after = deployment(changed, role).spec.template.metadata.annotations["checksum/config"];
      expect(before).toMatch(/^[0-9a-f]{64}$/);
      expect(after).not.toBe(before);
    }
  });
});

describe("helm template with non-default values (ci/namespaced-values.yaml)", () => {
  let objects: Manifest[];
  let values: Record<string, unknown>;
  beforeAll(async () => {
    values = await loadYamlFile(namespacedValuesFile);
    objects = await renderChart(values, { withRequiredValues: false });
  });

  it("watches one namespace: Roles there instead of ClusterRoles, and PTM_NAMESPACE on the pods", () => {
    expect(objects.filter((o) => o.kind.startsWith("Cluster"))).toEqual([]);
    expect(configMap(objects).data.PTM_NAMESPACE).toBe("vms");
    for (const role of ROLES) {
      const r = findObject(objects, "Role", `-${role}`) as RbacRole;
      expect(r.metadata.namespace).toBe("vms");
      expect(r.rules).toEqual(EXPECTED_RULES[role]);
    }
  });

  it("reads only the named Secrets, only with get, in secretNamespaces plus the watched namespace", () => {
    const secretRoles = rbacRoles(objects).filter(grantsSecrets);
    expect(secretRoles.map((r) => `${r.kind}/${r.metadata.namespace}`).sort()).toEqual(["Role/vm-secrets", "Role/vms"]);
    for (const r of secretRoles) {
      expect(r.rules).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: ["pve-token", "app-password"] }]);
      const binding = bindings(objects).find((b) => b.metadata.namespace === r.metadata.namespace && b.roleRef.name === r.metadata.name)!;
      // The controller resolves connections and the worker hands tokens to tofu; the sidecar reads no Secret.
      expect(binding.subjects.map((s) => s.name).sort()).toEqual(["ptm-proxmox-terraform-manager-controller", "ptm-proxmox-terraform-manager-worker"]);
    }
  });

  it("takes every credential from the existing Secret and creates none", () => {
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const ref = (role: string, name: string) => envOf(objects, role, name)?.valueFrom?.secretKeyRef;
    for (const role of ROLES) {
      expect(ref(role, "REDIS_URL")).toEqual({ name: "ptm-external", key: "redis" });
      expect(ref(role, "DATABASE_URL")).toEqual({ name: "ptm-external", key: "postgres" });
      expect(ref(role, "PTM_SIDECAR_READ_TOKEN")).toEqual({ name: "ptm-external", key: "read" });
      expect(envOf(objects, role, "PTM_SIDECAR_ADMIN_TOKEN")).toBeUndefined();
    }
    // Only workers run tofu, so only they get the state passphrase.
    expect(ref("worker", "PTM_STATE_ENCRYPTION_PASSPHRASE")).toEqual({ name: "ptm-external", key: "state-passphrase" });
    expect(envOf(objects, "controller", "PTM_STATE_ENCRYPTION_PASSPHRASE")).toBeUndefined();
    expect(envOf(objects, "sidecar", "PTM_STATE_ENCRYPTION_PASSPHRASE")).toBeUndefined();
  });

  it("applies replicas, concurrency, grace, image, scheduling and extra env per role", () => {
    expect(deployment(objects, "worker").spec.replicas).toBe(4);
    expect(deployment(objects, "sidecar").spec.replicas).toBe(3);
    expect(deployment(objects, "controller").spec.replicas).toBe(1);
    expect(envOf(objects, "worker", "PTM_WORKER_CONCURRENCY")?.value).toBe("8");
    expect(envOf(objects, "worker", "PTM_MAX_ATTEMPTS")?.value).toBe("3");
    expect(configMap(objects).data.PTM_SHUTDOWN_GRACE).toBe("300s");
    const worker = deployment(objects, "worker").spec.template;
    expect(worker.spec.terminationGracePeriodSeconds).toBeGreaterThan(300);
    expect(worker.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(worker.metadata.annotations["example.invalid/team"]).toBe("platform");
    expect(worker.spec.imagePullSecrets).toEqual([{ name: "registry-credentials" }]);
    expect((worker.spec.containers[0] as Container & { image: string; imagePullPolicy: string }).image).toBe(
      "ghcr.io/proxmox-terraform-manager/operator:0.1.0-test",
    );
    const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget").map((o) => o.metadata.name).sort();
    expect(pdbs).toEqual(["ptm-proxmox-terraform-manager-sidecar", "ptm-proxmox-terraform-manager-worker"]);
  });

  it("a ServiceMonitor scraping all three roles with the read token", () => {
    const sm = findObject(objects, "ServiceMonitor") as Manifest & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; authorization?: unknown }[] };
    };
    expect(sm.metadata.labels?.release).toBe("kube-prometheus-stack");
    expect(sm.spec.endpoints.map((e) => e.port).sort()).toEqual(["http", "metrics"]);
    for (const e of sm.spec.endpoints) {
      expect(e.path).toBe("/metrics");
      expect(e.authorization).toEqual({ type: "Bearer", credentials: { name: "ptm-external", key: "read" } });
    }
    // The selector matches the sidecar's Service (port http) and both metrics Services (port metrics).
    const services = objects.filter((o) => o.kind === "Service") as (Manifest & { spec: { ports: { name: string }[] } })[];
    const selected = services.filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    expect(selected.map((s) => s.spec.ports[0]!.name).sort()).toEqual(["http", "metrics", "metrics"]);
  });

  it("a PrometheusRule holding exactly files/prometheus-rules.yaml, and the dashboard ConfigMap", async () => {
    const rule = findObject(objects, "PrometheusRule") as Manifest & { spec: unknown };
    expect(rule.spec).toEqual(await loadYamlFile(path.join(chartDir, "files", "prometheus-rules.yaml")));
    const dashboard = objects.find((o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1") as Manifest & { data: Record<string, string> };
    expect(dashboard).toBeDefined();
    const [json] = Object.values(dashboard.data);
    expect(JSON.parse(json!)).toEqual(JSON.parse(await readFile(path.join(chartDir, "files", "grafana-dashboard.json"), "utf8")));
  });
});

describe("helm template with inline credentials and cluster-wide Secret reads", () => {
  let objects: Manifest[];
  beforeAll(async () => {
    objects = await renderChart({
      rbac: { secretsClusterWide: true },
      stateEncryption: { passphrase: "not-a-real-passphrase-0000" },
      sidecar: { auth: { readToken: "read-token-placeholder-0000", adminToken: "admin-token-placeholder-0000" } },
    });
  });

  it("grants get on Secrets cluster-wide to the controller and worker only when asked", () => {
    const secretRoles = rbacRoles(objects).filter(grantsSecrets);
    expect(secretRoles.map((r) => r.kind)).toEqual(["ClusterRole"]);
    expect(secretRoles[0]!.rules).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
    const binding = bindings(objects).find((b) => b.roleRef.name === secretRoles[0]!.metadata.name)!;
    expect(binding.kind).toBe("ClusterRoleBinding");
    expect(binding.subjects.map((s) => s.name).sort()).toEqual(["ptm-proxmox-terraform-manager-controller", "ptm-proxmox-terraform-manager-worker"]);
  });

  it("puts the passphrase and tokens in the chart's Secret and hands them out by role", () => {
    const secret = findObject(objects, "Secret") as Manifest & { data: Record<string, string> };
    expect(Object.keys(secret.data).sort()).toEqual(["database-url", "redis-url", "sidecar-admin-token", "sidecar-read-token", "state-encryption-passphrase"]);
    const name = secret.metadata.name;
    expect(envOf(objects, "worker", "PTM_STATE_ENCRYPTION_PASSPHRASE")?.valueFrom?.secretKeyRef).toEqual({ name, key: "state-encryption-passphrase" });
    expect(envOf(objects, "sidecar", "PTM_SIDECAR_ADMIN_TOKEN")?.valueFrom?.secretKeyRef).toEqual({ name, key: "sidecar-admin-token" });
    expect(envOf(objects, "worker", "PTM_SIDECAR_ADMIN_TOKEN")).toBeUndefined();
    for (const role of ROLES) expect(envOf(objects, role, "PTM_SIDECAR_READ_TOKEN")?.valueFrom?.secretKeyRef).toEqual({ name, key: "sidecar-read-token" });
    expect(JSON.stringify(objects.filter((o) => o.kind !== "Secret"))).not.toMatch(/placeholder-0000/);
  });
});

describe("values the schema refuses", () => {
  it.each([
    ["a negative replica count", { worker: { replicas: -1 } }, true, ["/worker/replicas", "minimum"]],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }, true, ["/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"]],
    ["a misspelt top-level key", { workers: { replicas: 2 } }, true, ["additional properties 'workers' not allowed"]],
    ["a misspelt nested key", { controller: { replica: 2 } }, true, ["/controller", "additional properties 'replica' not allowed"]],
    [
      "redis.enabled=false without redis.url or redis.existingSecret",
      { redis: { enabled: false }, postgresql: { enabled: false } },
      false,
      ["/redis/url", "/redis/existingSecret", "/postgresql/url", "/postgresql/existingSecret"],
    ],
    ["a short state passphrase", { stateEncryption: { passphrase: "too-short" } }, true, ["/stateEncryption/passphrase", "want 16"]],
    ["a concurrency above 64", { worker: { concurrency: 65 } }, true, ["/worker/concurrency", "maximum"]],
    ["a malformed duration", { config: { runTimeout: "30 minutes" } }, true, ["/config/runTimeout"]],
  ] as const)("%s", async (_what, values, withRequired, messages) => {
    const result = await templateChart(values, { withRequiredValues: withRequired });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    for (const message of messages) expect(result.stderr).toContain(message);
    // The refused passphrase itself is never echoed.
    expect(result.stderr).not.toContain("too-short");
  });
});

describe("NOTES.txt", () => {
  const notes = async (values: object) => {
    const result = await withValuesFile(values, (file) =>
      helm(["install", "notes", chartDir, "--namespace", "ptm-notes", "--dry-run=server", "-f", requiredValuesFile, "-f", file]),
    );
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.slice(result.stdout.indexOf("NOTES:"));
  };

  it("warns when no Secret access is configured and says how to grant it", async () => {
    const text = await notes({});
    expect(text).toContain("WARNING: the operator may not read any Secret");
    expect(text).toContain("rbac.secretNamespaces");
    expect(text).toContain("rbac.secretsClusterWide=true");
    expect(text).toContain("kubectl get pvm");
    expect(text).toContain("examples/connection.yaml");
    expect(text).toContain("port-forward svc/notes-proxmox-terraform-manager-sidecar");
  });

  it("names the state key Secret to back up, and says when state is plain text", async () => {
    const text = await notes({});
    expect(text).toContain("encrypted with the key in the Secret\nptm-notes/notes-proxmox-terraform-manager-state-key");
    expect(text).toContain("kubectl get secret -n ptm-notes notes-proxmox-terraform-manager-state-key -o yaml");
    const off = await notes({ stateEncryption: { mode: "off" } });
    expect(off).toContain("stateEncryption.mode is off");
    expect(off).not.toContain("state-key-backup");
  });

  it("names the namespaces it may read Secrets in, and drops the warning", async () => {
    const text = await notes({ watchNamespace: "vms", rbac: { secretNamespaces: ["shared-secrets"] } });
    expect(text).not.toContain("WARNING");
    expect(text).toContain("in: shared-secrets, vms");
    expect(text).toContain("kubectl get pvm -n vms -w");
  });
});

describe("against the platform's API server", () => {
  const release = uniqueName("chart");
  const ns = { release: `${release}-system`, watched: `${release}-vms`, secrets: `${release}-sec`, installed: `${release}-inst` };
  const env = () => platformEnv();

  beforeAll(async () => {
    // The ServiceMonitor and PrometheusRule kinds, and the chart's own CRDs, as helm would find them.
    const monitoring = env().MONITORING_CRDS_DIR;
    if (!monitoring) throw new Error(".platform/env has no MONITORING_CRDS_DIR: run scripts/platform up");
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", monitoring]);
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", path.join(chartDir, "crds")]);
    await kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/servicemonitors.monitoring.coreos.com",
      "crd/prometheusrules.monitoring.coreos.com",
      "crd/proxmoxvms.proxmox.terraform-manager.dev",
      "crd/proxmoxconnections.proxmox.terraform-manager.dev",
      "crd/proxmoxvmsets.proxmox.terraform-manager.dev",
    ]);
    for (const name of Object.values(ns)) await kubectl(["create", "namespace", name]);
  }, 120_000);

  afterAll(async () => {
    await helm(["uninstall", release, "--namespace", ns.installed]);
    for (const name of Object.values(ns)) await deleteNamespace(name);
  });

  const dryRun = async (values: object, withRequiredValues = true) => {
    const result = await templateChart(values, { namespace: ns.release, releaseName: release, withRequiredValues });
    expect(result.code, result.stderr).toBe(0);
    // helm's own YAML, as a user would pipe it.
    const objects = await kubectl(["apply", "--dry-run=server", "-o", "name", "-f", "-"], result.stdout);
    return objects.trim().split("\n");
  };

  it("accepts every object of the default install (server-side dry run, cluster-scoped included)", async () => {
    const applied = await dryRun({});
    expect(applied).toContain(`clusterrole.rbac.authorization.k8s.io/${release}-proxmox-terraform-manager-controller`);
    expect(applied).toContain(`deployment.apps/${release}-proxmox-terraform-manager-worker`);
    expect(applied.length).toBe((await renderChart({}, { namespace: ns.release, releaseName: release })).length);
  });

  it("accepts every object of the non-default install, monitoring objects included", async () => {
    const values = await loadYamlFile(namespacedValuesFile);
    const applied = await dryRun({ ...values, watchNamespace: ns.watched, rbac: { ...(values.rbac as object), secretNamespaces: [ns.secrets] } }, false);
    expect(applied).toContain(`servicemonitor.monitoring.coreos.com/${release}-proxmox-terraform-manager`);
    expect(applied).toContain(`prometheusrule.monitoring.coreos.com/${release}-proxmox-terraform-manager`);
    // Six for the Secrets and leader election, one for the workers' state key.
    expect(applied.filter((a) => a.startsWith("role.rbac"))).toHaveLength(7);
  });

  it("accepts cluster-wide Secret reads with inline credentials", async () => {
    const applied = await dryRun({ rbac: { secretsClusterWide: true }, stateEncryption: { passphrase: "not-a-real-passphrase-0000" } });
    expect(applied).toContain(`clusterrole.rbac.authorization.k8s.io/${release}-proxmox-terraform-manager-secrets`);
  });

  it("installs with helm (CRDs already present) and uninstalls cleanly", async () => {
    const installed = await helm(["install", release, chartDir, "--namespace", ns.installed, "-f", requiredValuesFile]);
    expect(installed.code, installed.stderr).toBe(0);
    const deployments = JSON.parse(await kubectl(["get", "deployments", "-n", ns.installed, "-o", "json"])) as { items: Manifest[] };
    expect(deployments.items.map((d) => d.metadata.name).sort()).toEqual(ROLES.map((r) => `${release}-proxmox-terraform-manager-${r}`).sort());
    const upgraded = await helm(["upgrade", release, chartDir, "--namespace", ns.installed, "--reuse-values", "--set", "worker.replicas=3"]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect((await kubectl(["get", "deployment", `${release}-proxmox-terraform-manager-worker`, "-n", ns.installed, "-o", "jsonpath={.spec.replicas}"])).trim()).toBe("3");

    const uninstalled = await helm(["uninstall", release, "--namespace", ns.installed]);
    expect(uninstalled.code, uninstalled.stderr).toBe(0);
    const left = await kubectl(["get", "clusterroles", "-l", `app.kubernetes.io/instance=${release}`, "-o", "name"]);
    expect(left.trim()).toBe("");
    // CRDs stay: helm never deletes crds/ (deleting them would delete every ProxmoxVM).
    await kubectl(["get", "crd", "proxmoxvms.proxmox.terraform-manager.dev"]);
  });
});

describe("files/prometheus-rules.yaml", () => {
  const rulesFile = path.join(chartDir, "files", "prometheus-rules.yaml");

  it("passes promtool check rules", async () => {
    const { stdout } = await execFileAsync("promtool", ["check", "rules", rulesFile], { env: { ...process.env, ...platformEnv() } });
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("fires as intended (promtool test rules): gauges exported by several processes count once", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ptm-rules-"));
    try {
      const series = (name: string, labels: Record<string, string>, values: string) => ({
        series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",")}}`,
        values,
      });
      const build = { job: "ptm", version: "0.1.0", tool: "tofu 1.12.6", provider: "0.111.1" };
      const firing = (alertname: string, labels: Record<string, string> = {}) =>
        `ALERTS{${Object.entries({ alertname, alertstate: "firing", severity: "warning", ...labels }).map(([k, v]) => `${k}="${v}"`).join(",")}}`;
      const tests = [
        {
          // Three processes each report the shared queue's 6 waiting runs: 6, not 18, is below 10.
          interval: "1m",
          input_series: ["controller-0", "worker-0", "sidecar-0"].map((instance) => series("ptm_queue_jobs", { state: "waiting", instance }, "6x40")),
          promql_expr_test: [{ expr: 'ALERTS{alertname="PTMQueueBacklog"}', eval_time: "30m", exp_samples: [] }],
        },
        {
          interval: "1m",
          input_series: [
            ...["controller-0", "sidecar-0"].map((instance) => series("ptm_queue_jobs", { state: "waiting", instance }, "12x40")),
            // A standby controller reports 0 VMs; the sidecar the real counts.
            series("ptm_vms", { state: "Provisioning", instance: "controller-1" }, "0x60"),
            series("ptm_vms", { state: "Provisioning", instance: "sidecar-0" }, "2x60"),
            series("ptm_vms", { state: "Running", instance: "sidecar-0" }, "5x60"),
            series("ptm_vms", { state: "Failed", instance: "sidecar-0" }, "0x60"),
            series("ptm_runs_total", { action: "apply", result: "failed", instance: "worker-0" }, "0+2x60"),
            series("ptm_runs_total", { action: "apply", result: "succeeded", instance: "worker-0" }, "0+1x60"),
            series("ptm_runs_total", { action: "destroy", result: "succeeded", instance: "worker-0" }, "0+1x60"),
            series("ptm_build_info", { ...build, instance: "worker-0" }, "1x60"),
            series("up", { job: "ptm", instance: "worker-0" }, "1x60"),
          ],
          promql_expr_test: [
            { expr: 'ALERTS{alertname="PTMQueueBacklog"}', eval_time: "20m", exp_samples: [{ labels: firing("PTMQueueBacklog"), value: 1 }] },
            {
              expr: 'ALERTS{alertname="PTMVMsNotReady"}',
              eval_time: "40m",
              exp_samples: [{ labels: firing("PTMVMsNotReady", { state: "Provisioning" }), value: 1 }],
            },
            { expr: 'ALERTS{alertname="PTMVMsFailed"}', eval_time: "40m", exp_samples: [] },
            { expr: 'ALERTS{alertname="PTMRunsFailing"}', eval_time: "45m", exp_samples: [{ labels: firing("PTMRunsFailing", { action: "apply" }), value: 1 }] },
            { expr: 'ALERTS{alertname=~"PTMOperatorAbsent|PTMProcessDown"}', eval_time: "45m", exp_samples: [] },
          ],
        },
        {
          // A worker that exported metrics stops answering; later nothing exports metrics at all.
          interval: "1m",
          input_series: [series("up", { job: "ptm", instance: "worker-0" }, "1x10 0x50"), series("ptm_build_info", { ...build, instance: "worker-0" }, "1x10")],
          promql_expr_test: [
            { expr: 'ALERTS{alertname="PTMProcessDown"}', eval_time: "20m", exp_samples: [{ labels: firing("PTMProcessDown", { job: "ptm", instance: "worker-0" }), value: 1 }] },
            {
              expr: 'ALERTS{alertname="PTMOperatorAbsent"}',
              eval_time: "40m",
              exp_samples: [{ labels: `ALERTS{alertname="PTMOperatorAbsent",alertstate="firing",severity="critical"}`, value: 1 }],
            },
          ],
        },
      ];
      const testFile = path.join(dir, "rules.test.json");
      await writeFile(testFile, JSON.stringify({ rule_files: [rulesFile], evaluation_interval: "1m", tests }));
      const result = await execFileAsync("promtool", ["test", "rules", testFile], { env: { ...process.env, ...platformEnv() } }).catch(
        (e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ""}${e.stderr ?? ""}`, failed: true }),
      );
      expect(result.stdout).toContain("SUCCESS");
      expect("failed" in result, result.stdout).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("metric names in the rules and the dashboard", () => {
  it("are all metrics the operator really exports", async () => {
    // The TYPE lines of the text /metrics serves: every metric is declared even before it has a sample.
    const text = await new Metrics({ defaultMetrics: false }).text();
    const exported = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name!);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${name}${suffix}`);
    }
    expect(exported).toContain("ptm_runs_total");
    const rules = (await loadYamlFile(path.join(chartDir, "files", "prometheus-rules.yaml"))) as { groups: { rules: { expr: string }[] }[] };
    const dashboard = JSON.parse(await readFile(path.join(chartDir, "files", "grafana-dashboard.json"), "utf8")) as { panels: { targets: { expr: string }[] }[] };
    const expressions = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    const used = new Set(expressions.flatMap((e) => e.match(/\bptm_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });
});

describe("files/grafana-dashboard.json", () => {
  it("parses, and every panel and query uses the ${datasource} variable", async () => {
    const dashboard = JSON.parse(await readFile(path.join(chartDir, "files", "grafana-dashboard.json"), "utf8")) as {
      templating: { list: { name: string; type: string; query: string }[] };
      panels: { title: string; datasource: { type: string; uid: string }; targets: { datasource: { uid: string }; expr: string }[] }[];
    };
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: "datasource", type: "datasource", query: "prometheus" }));
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.datasource.uid, panel.title).toBe("${datasource}");
    }
    const titles = dashboard.panels.map((p) => p.title);
    for (const title of ["VMs by state", "Runs by result", "Run duration", "Queue depth", "Queue wait", "tofu phase duration (p95)", "Reconciles", "SSE clients"]) {
      expect(titles).toContain(title);
    }
  });
});
