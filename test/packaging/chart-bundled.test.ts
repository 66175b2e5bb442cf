import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { repoRoot } from "../support/paths.js";
import { waitFor } from "../support/wait.js";
import {
  bundledNames,
  chartDir,
  decodedData,
  findObject,
  helm,
  parseManifests,
  renderChart,
  requiredValuesFile,
  templateChart,
  type Manifest,
} from "./chart-helpers.js";

/**
 * The chart with no values at all: its own Redis and PostgreSQL (StatefulSets with claims,
 * generated passwords), the operator wired to them; and switched off again. Rendered by the real
 * helm, then installed into the platform's API server. There is no kubelet there: the pods are
 * never scheduled, so Redis, PostgreSQL and the init script do not run here (docs/helm.md).
 */

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env: EnvVar[];
  securityContext: Record<string, unknown>;
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  startupProbe?: unknown;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; subPath?: string }[];
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string; defaultMode?: number }; secret?: { secretName: string }; emptyDir?: object }[];
}
type Workload = Manifest & {
  spec: {
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }[];
  };
};
type Secret = Manifest & { data: Record<string, string> };

const ROLES = ["controller", "worker", "sidecar"] as const;

/** A TCP port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, "close");
  return port;
}
const release = "ptm";
const names = bundledNames(release);
const workload = (objects: Manifest[], kind: string, suffix: string) => findObject(objects, kind, suffix) as Workload;
const containerOf = (w: Workload) => w.spec.template.spec.containers[0]!;
const envOf = (c: Container, name: string) => c.env.find((e) => e.name === name);
const secretOf = (objects: Manifest[], name: string) => decodedData(findObject(objects, "Secret", name) as Secret);

describe("helm template with no values: the bundled Redis and PostgreSQL", () => {
  let objects: Manifest[];
  beforeAll(async () => {
    objects = await renderChart({}, { namespace: "ptm-system", releaseName: release, withRequiredValues: false });
  });

  it("renders a StatefulSet with a PersistentVolumeClaim and a Service for each", () => {
    for (const [name, port, size] of [
      [names.redis, 6379, "2Gi"],
      [names.postgresql, 5432, "8Gi"],
    ] as const) {
      const sts = workload(objects, "StatefulSet", name);
      expect(sts.metadata.name).toBe(name);
      expect(sts.spec.volumeClaimTemplates).toEqual([
        expect.objectContaining({ metadata: expect.objectContaining({ name: "data" }), spec: expect.objectContaining({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } }) }),
      ]);
      const svc = findObject(objects, "Service", name) as Manifest & { spec: { selector: Record<string, string>; ports: { port: number }[] } };
      expect(svc.spec.ports.map((p) => p.port)).toEqual([port]);
      // The Service selects exactly the StatefulSet's pods.
      expect(sts.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
      expect(svc.spec.selector["app.kubernetes.io/component"]).toBe(name.endsWith("redis") ? "redis" : "postgresql");
    }
    expect(objects.filter((o) => o.kind === "StatefulSet")).toHaveLength(2);
  });

  it.each(ROLES)("wires the %s to the bundled services through their generated Secrets", (role) => {
    const c = containerOf(workload(objects, "Deployment", `-${role}`));
    expect(envOf(c, "REDIS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: names.redis, key: "redis-url" });
    // The sidecar gets its own read-only login; the controller and workers the owner's.
    expect(envOf(c, "DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: names.postgresql, key: role === "sidecar" ? "sidecar-database-url" : "database-url" });
  });

  it("generates the passwords into the Secrets, with URLs naming the Services", () => {
    const redis = secretOf(objects, names.redis);
    expect(redis.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(redis["redis-url"]).toBe(`redis://:${redis.password}@${names.redis}.ptm-system.svc:6379/0`);
    expect(redis["auth.conf"]).toBe(`requirepass ${redis.password}\n`);
    const pg = secretOf(objects, names.postgresql);
    expect(pg.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(pg["sidecar-password"]).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(pg["sidecar-password"]).not.toBe(pg.password);
    expect(pg["database-url"]).toBe(`postgres://ptm:${pg.password}@${names.postgresql}.ptm-system.svc:5432/ptm?sslmode=disable`);
    expect(pg["sidecar-database-url"]).toBe(`postgres://ptm_sidecar:${pg["sidecar-password"]}@${names.postgresql}.ptm-system.svc:5432/ptm?sslmode=disable`);
    // The chart's own Secret (inline URLs) is not needed.
    expect(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name).sort()).toEqual([names.postgresql, `${release}-proxmox-terraform-manager-read-token`, names.redis].sort());
    // No password outside the Secrets: not in a pod spec, ConfigMap or annotation.
    const elsewhere = JSON.stringify(objects.filter((o) => o.kind !== "Secret"));
    for (const password of [redis.password!, pg.password!, pg["sidecar-password"]!]) expect(elsewhere).not.toContain(password);
  });

  it("configures Redis with noeviction and the append-only file, its password from a file", () => {
    const conf = (findObject(objects, "ConfigMap", names.redis) as Manifest & { data: Record<string, string> }).data["redis.conf"]!;
    const settings = Object.fromEntries(conf.trim().split("\n").map((l) => [l.split(" ")[0], l.split(" ").slice(1).join(" ")]));
    expect(settings).toMatchObject({ "maxmemory-policy": "noeviction", appendonly: "yes", dir: "/data", include: "/etc/redis/auth/auth.conf", maxmemory: "384mb" });
    const sts = workload(objects, "StatefulSet", names.redis);
    const c = containerOf(sts);
    expect(c.command).toEqual(["redis-server", "/etc/redis/redis.conf"]);
    expect(c.volumeMounts.map((m) => m.mountPath).sort()).toEqual(["/data", "/etc/redis/auth", "/etc/redis/redis.conf", "/tmp"]);
    expect(sts.spec.template.spec.volumes.find((v) => v.name === "auth")?.secret?.secretName).toBe(names.redis);
  });

  it("the rendered redis.conf, password file and URL work with a real redis-server (the platform's)", async () => {
    const conf = (findObject(objects, "ConfigMap", names.redis) as Manifest & { data: Record<string, string> }).data["redis.conf"]!;
    const secret = secretOf(objects, names.redis);
    const dir = await mkdtemp(path.join(tmpdir(), "ptm-chart-redis-"));
    const port = await freePort();
    // Only the container's paths and the port change; every setting is the chart's.
    await mkdir(path.join(dir, "data"));
    await writeFile(path.join(dir, "auth.conf"), secret["auth.conf"]!);
    const local = conf.replace("dir /data", `dir ${path.join(dir, "data")}`).replace("include /etc/redis/auth/auth.conf", `include ${path.join(dir, "auth.conf")}`).replace("port 6379", `port ${port}`);
    expect(local).not.toBe(conf);
    await writeFile(path.join(dir, "redis.conf"), local);
    const server = spawn("redis-server", [path.join(dir, "redis.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    server.stdout.on("data", (d: Buffer) => (output += d.toString()));
    server.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const url = new URL(secret["redis-url"]!);
    url.host = `127.0.0.1:${port}`;
    const client = new Redis(url.toString(), { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const anonymous = new Redis({ host: "127.0.0.1", port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    anonymous.on("error", () => undefined);
    try {
      await waitFor(`redis-server on port ${port} (output: ${output})`, async () => (server.exitCode === null ? (await client.connect().then(() => true, () => false)) : Promise.reject(new Error(`redis-server exited: ${output}`))), 30_000);
      expect(await client.ping()).toBe("PONG");
      expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await client.config("GET", "maxmemory")).toEqual(["maxmemory", String(384 * 1024 * 1024)]);
      await client.set("ptm:probe", "1");
      // Without the password nothing is answered.
      await anonymous.connect().catch(() => undefined);
      await expect(anonymous.get("ptm:probe")).rejects.toThrow(/NOAUTH/);
      expect(existsSync(path.join(dir, "data", "appendonlydir"))).toBe(true);
    } finally {
      anonymous.disconnect();
      client.disconnect();
      if (server.exitCode === null) {
        server.kill("SIGTERM");
        await once(server, "exit");
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("initialises PostgreSQL with the sidecar's read-only login: compose's script, byte for byte", async () => {
    const init = findObject(objects, "ConfigMap", `${names.postgresql}-init`) as Manifest & { data: Record<string, string> };
    expect(init.data["10-sidecar-login.sh"]).toBe(await readFile(path.join(repoRoot, "compose", "postgres", "10-sidecar-login.sh"), "utf8"));
    const sts = workload(objects, "StatefulSet", names.postgresql);
    const c = containerOf(sts);
    expect(c.volumeMounts.find((m) => m.mountPath === "/docker-entrypoint-initdb.d")?.name).toBe("init");
    expect(sts.spec.template.spec.volumes.find((v) => v.name === "init")?.configMap).toEqual({ name: `${names.postgresql}-init`, defaultMode: 0o555 });
    expect(envOf(c, "POSTGRES_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({ name: names.postgresql, key: "password" });
    expect(envOf(c, "PTM_SIDECAR_DB_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({ name: names.postgresql, key: "sidecar-password" });
    expect(envOf(c, "PTM_SIDECAR_DB_USER")?.value).toBe("ptm_sidecar");
    // The reader role the operator's migrations grant to is <PTM_DB_SCHEMA>_reader.
    const config = findObject(objects, "ConfigMap", "-config") as Manifest & { data: Record<string, string> };
    expect(envOf(c, "PTM_DB_SCHEMA")?.value).toBe(config.data.PTM_DB_SCHEMA);
    expect(envOf(c, "PGDATA")?.value).toBe("/var/lib/postgresql/data/pgdata");
  });

  it.each([names.redis, names.postgresql])("runs %s hardened and bounded: non-root, read-only root, no capabilities, requests, limits and probes", (name) => {
    const sts = workload(objects, "StatefulSet", name);
    expect(sts.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } });
    const c = containerOf(sts);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    expect(c.image).toMatch(/^docker\.io\/library\/(redis|postgres):\d+\.\d+(\.\d+)?$/);
    expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
    expect(c.resources.limits.memory).toMatch(/^\d+(Mi|Gi)$/);
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) expect(probe).toMatchObject({ exec: { command: expect.any(Array) } });
  });

  it("lets only this release's controller, worker and sidecar pods reach them", () => {
    for (const [name, port] of [
      [names.redis, "redis"],
      [names.postgresql, "postgresql"],
    ] as const) {
      const policy = findObject(objects, "NetworkPolicy", name) as Manifest & { spec: { ingress: { ports: { port: string }[]; from: unknown[] }[] } };
      expect(policy.spec.ingress).toEqual([
        {
          ports: [{ port, protocol: "TCP" }],
          from: [
            {
              podSelector: {
                matchLabels: { "app.kubernetes.io/name": "proxmox-terraform-manager", "app.kubernetes.io/instance": release },
                matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["controller", "worker", "sidecar"] }],
              },
            },
          ],
        },
      ]);
    }
    // The workers' egress allows the bundled pods even when databaseCidrs narrows the rest.
    const narrowed = JSON.stringify(findObject(objects, "NetworkPolicy", "-worker"));
    expect(narrowed).toContain('"app.kubernetes.io/component":"redis"');
    expect(narrowed).toContain('"app.kubernetes.io/component":"postgresql"');
  });

  it("says in NOTES.txt that it runs its own and that uninstall keeps the data", async () => {
    const result = await helm(["install", "notes", chartDir, "--namespace", "ptm-notes", "--dry-run=server"]);
    expect(result.code, result.stderr).toBe(0);
    const notes = result.stdout.slice(result.stdout.indexOf("NOTES:"));
    expect(notes).toContain("The chart runs its own Redis (notes-proxmox-terraform-manager-redis) and PostgreSQL (notes-proxmox-terraform-manager-postgresql)");
    expect(notes).toContain("redis.enabled=false / postgresql.enabled=false");
    expect(notes).not.toContain("the sidecar uses the operator's read-write database login");
  });
});

describe("switching the bundled services off", () => {
  it.each([
    ["redis", { redis: { enabled: false } }, ["/redis/url", "/redis/existingSecret"]],
    ["postgresql", { postgresql: { enabled: false } }, ["/postgresql/url", "/postgresql/existingSecret"]],
  ] as const)("%s.enabled=false without a URL or existingSecret is refused by the schema, naming both", async (service, values, messages) => {
    const result = await templateChart(values, { withRequiredValues: false });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(`at '/${service}': 'anyOf' failed`);
    for (const message of messages) expect(result.stderr).toContain(message);
  });

  it("a URL while the bundled service is on is refused, saying to set enabled=false", async () => {
    const result = await templateChart({ redis: { url: "redis://mine.example.invalid:6379" } }, { withRequiredValues: false });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("redis.url / redis.existingSecret are set while redis.enabled=true");
    expect(result.stderr).toContain("set redis.enabled=false");
    expect(result.stderr).not.toContain("mine.example.invalid");
  });

  it("disabled with URLs: no StatefulSet, claim, bundled Secret, Service or NetworkPolicy; the pods use the URLs", async () => {
    const objects = await renderChart({});
    expect(objects.filter((o) => o.kind === "StatefulSet")).toEqual([]);
    const bundled = objects.filter((o) => o.metadata.name === names.redis || o.metadata.name.startsWith(names.postgresql));
    expect(bundled.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    expect(JSON.stringify(objects)).not.toMatch(/"app.kubernetes.io\/component":"(redis|postgresql)"/);
    const c = containerOf(workload(objects, "Deployment", "-worker"));
    expect(envOf(c, "REDIS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "ptm-proxmox-terraform-manager", key: "redis-url" });
  });

  it("one off, one on: your Redis with the bundled PostgreSQL", async () => {
    const objects = await renderChart({ redis: { enabled: false, existingSecret: "my-redis" } }, { withRequiredValues: false });
    expect(objects.filter((o) => o.kind === "StatefulSet").map((o) => o.metadata.name)).toEqual([names.postgresql]);
    const c = containerOf(workload(objects, "Deployment", "-controller"));
    expect(envOf(c, "REDIS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "my-redis", key: "redis-url" });
    expect(envOf(c, "DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: names.postgresql, key: "database-url" });
  });
});

describe("helm install with no values into the platform's API server", () => {
  const releaseName = uniqueName("bundled");
  const namespace = `${releaseName}-ns`;
  const installed = bundledNames(releaseName);
  const secretData = async (name: string) => decodedData(JSON.parse(await kubectl(["get", "secret", name, "-n", namespace, "-o", "json"])) as Secret);

  beforeAll(async () => {
    await kubectl(["apply", "--server-side", "--force-conflicts", "-f", path.join(chartDir, "crds")]);
    await kubectl(["create", "namespace", namespace]);
  }, 120_000);

  afterAll(async () => {
    await helm(["uninstall", releaseName, "--namespace", namespace]);
    await deleteNamespace(namespace);
  });

  it("installs; the API server holds every object; helm upgrade keeps the generated passwords; uninstall keeps them for a reinstall", async () => {
    // Nothing but the chart: no -f, no --set.
    const install = await helm(["install", releaseName, chartDir, "--namespace", namespace]);
    expect(install.code, install.stderr).toBe(0);

    // Every object of the release's manifest, as the API server holds it.
    const manifest = await helm(["get", "manifest", releaseName, "--namespace", namespace]);
    const rendered = parseManifests(manifest.stdout);
    const held = (await kubectl(["get", "-o", "name", "-f", "-"], manifest.stdout)).trim().split("\n");
    expect(held).toHaveLength(rendered.length);
    expect(held).toEqual(expect.arrayContaining([`statefulset.apps/${installed.redis}`, `statefulset.apps/${installed.postgresql}`, `service/${installed.redis}`, `service/${installed.postgresql}`]));

    // The Deployments the API server stored reference the bundled Secrets, and those Secrets
    // hold URLs to the bundled Services of this namespace.
    const deployments = JSON.parse(await kubectl(["get", "deployments", "-n", namespace, "-o", "json"])) as { items: Workload[] };
    expect(deployments.items).toHaveLength(3);
    for (const d of deployments.items) {
      const c = containerOf(d);
      expect(envOf(c, "REDIS_URL")?.valueFrom?.secretKeyRef, d.metadata.name).toEqual({ name: installed.redis, key: "redis-url" });
      expect(envOf(c, "DATABASE_URL")?.valueFrom?.secretKeyRef?.name, d.metadata.name).toBe(installed.postgresql);
    }
    const redisBefore = await secretData(installed.redis);
    const pgBefore = await secretData(installed.postgresql);
    expect(redisBefore["redis-url"]).toBe(`redis://:${redisBefore.password}@${installed.redis}.${namespace}.svc:6379/0`);
    expect(pgBefore["database-url"]).toContain(`@${installed.postgresql}.${namespace}.svc:5432/ptm`);
    const services = JSON.parse(await kubectl(["get", "services", installed.redis, installed.postgresql, "-n", namespace, "-o", "json"])) as { items: { spec: { selector: Record<string, string> } }[] };
    const statefulSets = JSON.parse(await kubectl(["get", "statefulsets", installed.redis, installed.postgresql, "-n", namespace, "-o", "json"])) as { items: Workload[] };
    services.items.forEach((svc, i) => expect(statefulSets.items[i]!.spec.template.metadata.labels).toMatchObject(svc.spec.selector));

    // Upgrades, with and without --reuse-values, keep every generated password.
    for (const args of [["--reuse-values", "--set", "worker.replicas=3"], ["--set", "config.logLevel=debug"]]) {
      const upgrade = await helm(["upgrade", releaseName, chartDir, "--namespace", namespace, ...args]);
      expect(upgrade.code, upgrade.stderr).toBe(0);
      expect(await secretData(installed.redis)).toEqual(redisBefore);
      expect(await secretData(installed.postgresql)).toEqual(pgBefore);
    }

    // Uninstall keeps the two Secrets (the claims' data was initialised with those passwords);
    // a reinstall adopts them unchanged.
    const uninstall = await helm(["uninstall", releaseName, "--namespace", namespace]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(await secretData(installed.postgresql)).toEqual(pgBefore);
    const reinstall = await helm(["install", releaseName, chartDir, "--namespace", namespace]);
    expect(reinstall.code, reinstall.stderr).toBe(0);
    expect(await secretData(installed.redis)).toEqual(redisBefore);
    expect(await secretData(installed.postgresql)).toEqual(pgBefore);
  });

  it("disabled + URLs (ci/default-values.yaml) is accepted by the API server and renders no StatefulSet", async () => {
    const result = await templateChart({}, { namespace, releaseName: `${releaseName}-ext` });
    expect(result.code, result.stderr).toBe(0);
    const applied = (await kubectl(["apply", "--dry-run=server", "-o", "name", "-f", "-"], result.stdout)).trim().split("\n");
    expect(applied.filter((a) => a.startsWith("statefulset"))).toEqual([]);
    expect(applied.length).toBe(parseManifests(result.stdout).length);
    expect(requiredValuesFile).toMatch(/default-values\.yaml$/);
  });
});
