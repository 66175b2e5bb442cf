import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, readerRole } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/database.js";
import { kubectl, uniqueName } from "../support/kube.js";
import { withPg } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";
import { allRefused, refusals, writesRefusedTo } from "./read-only-login.js";
import { chartDir, findObject, helm, renderChart, requiredValuesFile, templateChart, withValuesFile, type Manifest } from "./chart-helpers.js";

/**
 * The chart closed by default: NetworkPolicies (rendered as intended and accepted by the API
 * server), a generated read token that survives upgrades, the process namespace shared by the
 * worker only, and a sidecar whose database login cannot write.
 */

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
type Deployment = Manifest & { spec: { template: { spec: { shareProcessNamespace?: boolean; containers: { env: EnvVar[] }[] } } } };
interface Peer {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchLabels?: Record<string, string> };
  ipBlock?: { cidr: string };
}
interface Rule {
  ports?: { port: number | string; protocol: string }[];
  from?: Peer[];
  to?: Peer[];
}
type NetworkPolicy = Manifest & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: Rule[]; egress?: Rule[] } };

const ROLES = ["controller", "worker", "sidecar"] as const;
const deployment = (objects: Manifest[], role: string) => findObject(objects, "Deployment", `-${role}`) as Deployment;
const policy = (objects: Manifest[], role: string) => findObject(objects, "NetworkPolicy", `-${role}`) as NetworkPolicy;
const envOf = (objects: Manifest[], role: string, name: string) => deployment(objects, role).spec.template.spec.containers[0]!.env.find((e) => e.name === name);
const portsOf = (rule: Rule) => (rule.ports ?? []).map((p) => `${p.port}/${p.protocol}`);

describe("NetworkPolicies, as rendered", () => {
  let objects: Manifest[];
  beforeAll(async () => {
    objects = await renderChart({});
  });

  it("one per role, on by default, selecting exactly that role's pods", () => {
    expect(objects.filter((o) => o.kind === "NetworkPolicy")).toHaveLength(3);
    for (const role of ROLES) {
      expect(policy(objects, role).spec.podSelector.matchLabels).toEqual({
        "app.kubernetes.io/name": "proxmox-terraform-manager",
        "app.kubernetes.io/instance": "ptm",
        "app.kubernetes.io/component": role,
      });
    }
  });

  it("the sidecar accepts its http port from its own namespace and the monitoring namespace only", () => {
    const p = policy(objects, "sidecar");
    expect(p.spec.policyTypes).toEqual(["Ingress"]);
    expect(p.spec.ingress).toHaveLength(1);
    const rule = p.spec.ingress![0]!;
    expect(portsOf(rule)).toEqual(["http/TCP"]);
    expect(rule.from).toEqual([
      { podSelector: { matchLabels: {} } },
      { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } }, podSelector: { matchLabels: {} } },
    ]);
  });

  it("the controller and worker accept only their metrics port", () => {
    for (const role of ["controller", "worker"]) {
      const rules = policy(objects, role).spec.ingress!;
      expect(rules.map(portsOf), role).toEqual([["metrics/TCP"]]);
    }
  });

  it("workers may connect only to DNS, the API server, Redis, PostgreSQL and Proxmox's port", () => {
    const p = policy(objects, "worker");
    expect(p.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(p.spec.egress!.map(portsOf)).toEqual([["53/UDP", "53/TCP"], ["443/TCP", "6443/TCP"], ["6379/TCP", "5432/TCP"], ["8006/TCP"]]);
    expect(policy(objects, "controller").spec.policyTypes).toEqual(["Ingress"]);
  });

  it("narrows to the namespaces, pods and addresses given", async () => {
    const narrowed = await renderChart({
      networkPolicy: {
        sidecar: { fromNamespaces: ["ops"], fromPodLabels: { "ptm-client": "true" } },
        metrics: { namespace: "observability", podLabels: { app: "prometheus" } },
        worker: { proxmoxCidrs: ["192.0.2.0/28"], proxmoxPorts: [8006, 443], kubernetesApiCidrs: ["10.96.0.1/32"], databaseCidrs: ["10.20.0.0/16"] },
      },
    });
    const from = policy(narrowed, "sidecar").spec.ingress![0]!.from!;
    expect(from).toContainEqual({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ops" } }, podSelector: { matchLabels: { "ptm-client": "true" } } });
    expect(from).toContainEqual({ podSelector: { matchLabels: { "ptm-client": "true" } } });
    expect(from).toContainEqual({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "observability" } }, podSelector: { matchLabels: { app: "prometheus" } } });
    const egress = policy(narrowed, "worker").spec.egress!;
    expect(egress[1]!.to).toEqual([{ ipBlock: { cidr: "10.96.0.1/32" } }]);
    expect(egress[2]!.to).toEqual([{ ipBlock: { cidr: "10.20.0.0/16" } }]);
    expect(egress[3]).toEqual({ ports: [{ port: 8006, protocol: "TCP" }, { port: 443, protocol: "TCP" }], to: [{ ipBlock: { cidr: "192.0.2.0/28" } }] });
  });

  it("can be turned off, and then NOTES.txt warns", async () => {
    expect((await renderChart({ networkPolicy: { enabled: false } })).filter((o) => o.kind === "NetworkPolicy")).toEqual([]);
    const notes = await installNotes({ networkPolicy: { enabled: false } });
    expect(notes).toContain("WARNING: networkPolicy.enabled is false");
  });

  it("refuses a malformed CIDR by name", async () => {
    const result = await templateChart({ networkPolicy: { worker: { proxmoxCidrs: ["pve.example.com"] } } });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("proxmoxCidrs");
  });
});

async function installNotes(values: object): Promise<string> {
  const result = await withValuesFile(values, (file) => helm(["install", "notes", chartDir, "--namespace", "ptm-notes", "--dry-run=server", "-f", requiredValuesFile, "-f", file]));
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.slice(result.stdout.indexOf("NOTES:"));
}

describe("the read token and the process namespace, as rendered", () => {
  it("generates a read token by default and hands it to every role (and nothing else does)", async () => {
    const objects = await renderChart({});
    const secret = findObject(objects, "Secret", "-read-token") as Manifest & { data: Record<string, string> };
    const token = Buffer.from(secret.data["read-token"]!, "base64").toString("utf8");
    expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
    for (const role of ROLES) {
      expect(envOf(objects, role, "PTM_SIDECAR_READ_TOKEN")?.valueFrom?.secretKeyRef, role).toEqual({ name: secret.metadata.name, key: "read-token" });
    }
    expect(envOf(objects, "sidecar", "PTM_SIDECAR_ADMIN_TOKEN")).toBeUndefined();
    // Two renders without a cluster make two tokens: nothing is baked into the chart.
    const again = findObject(await renderChart({}), "Secret", "-read-token") as Manifest & { data: Record<string, string> };
    expect(again.data["read-token"]).not.toBe(secret.data["read-token"]);
  });

  it("generates none when a token is given or generation is off; then NOTES.txt says reads are open", async () => {
    const given = await renderChart({ sidecar: { auth: { readToken: "a-read-token-given-0000" } } });
    expect(given.filter((o) => o.metadata.name.endsWith("-read-token"))).toEqual([]);
    const off = await renderChart({ sidecar: { auth: { generateReadToken: false } } });
    expect(off.filter((o) => o.metadata.name.endsWith("-read-token"))).toEqual([]);
    expect(envOf(off, "sidecar", "PTM_SIDECAR_READ_TOKEN")).toBeUndefined();
    expect(await installNotes({ sidecar: { auth: { generateReadToken: false } } })).toContain("WARNING: reads are open");
    expect(await installNotes({})).toContain("get secret notes-proxmox-terraform-manager-read-token");
  });

  it("shares the process namespace in the worker only (it reaps tofu's orphans)", async () => {
    const objects = await renderChart({});
    expect(ROLES.map((role) => deployment(objects, role).spec.template.spec.shareProcessNamespace ?? false)).toEqual([false, true, false]);
  });
});

describe("against the platform's API server", () => {
  const release = uniqueName("sec");
  const namespace = `${release}-system`;

  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
  });
  afterAll(async () => {
    await helm(["uninstall", release, "--namespace", namespace]);
    await kubectl(["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
  });

  it("accepts the NetworkPolicies, default and narrowed (server-side dry run)", async () => {
    for (const values of [{}, { networkPolicy: { sidecar: { fromNamespaces: ["ops"] }, worker: { proxmoxCidrs: ["192.0.2.0/28", "2001:db8::/64"], extraEgress: [{ to: [{ ipBlock: { cidr: "198.51.100.0/24" } }], ports: [{ port: 3128, protocol: "TCP" }] }] } } }]) {
      const rendered = await templateChart(values, { namespace, releaseName: release });
      expect(rendered.code, rendered.stderr).toBe(0);
      const policies = rendered.stdout.split(/^---$/m).filter((doc) => /^kind: NetworkPolicy$/m.test(doc));
      expect(policies).toHaveLength(3);
      const applied = await kubectl(["apply", "--dry-run=server", "-o", "name", "-f", "-"], policies.join("\n---\n"));
      expect(applied.trim().split("\n").sort()).toEqual(ROLES.map((r) => `networkpolicy.networking.k8s.io/${release}-proxmox-terraform-manager-${r}`).sort());
    }
  });

  it("keeps the generated read token across helm upgrade", async () => {
    const tokenOf = async () => {
      const secret = JSON.parse(await kubectl(["get", "secret", "-n", namespace, `${release}-proxmox-terraform-manager-read-token`, "-o", "json"])) as { data: Record<string, string> };
      return Buffer.from(secret.data["read-token"]!, "base64").toString("utf8");
    };
    const install = await helm(["install", release, chartDir, "--namespace", namespace, "-f", requiredValuesFile, "--skip-crds", "--set", "controller.replicas=0,worker.replicas=0,sidecar.replicas=0"]);
    expect(install.code, install.stderr).toBe(0);
    const first = await tokenOf();
    expect(first).toMatch(/^[A-Za-z0-9]{48}$/);
    const upgrade = await helm(["upgrade", release, chartDir, "--namespace", namespace, "-f", requiredValuesFile, "--skip-crds", "--reuse-values", "--set", "config.logLevel=debug"]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await tokenOf()).toBe(first);
  });
});

describe("the sidecar's database login", () => {
  const schema = `sec_${randomBytes(4).toString("hex")}`;
  const stateSchema = `${schema}_state`;
  const login = `${schema}_sidecar`;
  const password = randomBytes(12).toString("hex");
  let sidecarUrl: string;

  const adminUrl = () => {
    const url = new URL(platformEnv().DATABASE_URL);
    url.searchParams.set("sslmode", "disable");
    return url;
  };

  beforeAll(async () => {
    // The operator migrates with its own login; an administrator makes the sidecar's (docs/helm.md).
    const pool = new pg.Pool({ connectionString: adminUrl().toString(), max: 1 });
    try {
      await migrate(pool, schema);
    } finally {
      await pool.end();
    }
    await withPg(async (c) => {
      await c.query(`create schema ${stateSchema}`);
      await c.query(`create table ${stateSchema}.states (id serial primary key, data text)`);
      await c.query(`insert into ${schema}.runs (namespace, name, uid, generation, spec_hash, action, status) values ('ns', 'web', 'u', 1, 'h', 'apply', 'succeeded')`);
      await c.query(`create role ${login} login password '${password}' in role ${readerRole(schema)}`);
    });
    const reader = adminUrl();
    reader.username = login;
    reader.password = password;
    // The URL reaches the sidecar as the chart hands it out.
    const objects = await renderChart({ postgresql: { sidecar: { url: reader.toString() } } });
    const ref = envOf(objects, "sidecar", "DATABASE_URL")!.valueFrom!.secretKeyRef!;
    expect(envOf(objects, "controller", "DATABASE_URL")!.valueFrom!.secretKeyRef!.key).toBe("database-url");
    const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === ref.name) as Manifest & { data: Record<string, string> };
    sidecarUrl = Buffer.from(secret.data[ref.key]!, "base64").toString("utf8");
    expect(sidecarUrl).toBe(reader.toString());
  });

  afterAll(async () => {
    await withPg(async (c) => {
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.query(`drop schema if exists ${stateSchema} cascade`);
      await c.query(`drop role if exists ${login}`);
      await c.query(`drop owned by ${readerRole(schema)}`).catch(() => undefined);
      await c.query(`drop role if exists ${readerRole(schema)}`);
    });
  });

  const asSidecar = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: sidecarUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const refusal = (c: pg.Client, sql: string) =>
    c.query(sql).then(
      () => "allowed",
      (e: { code?: string }) => e.code,
    );

  it("opens the migrated database and reads runs and run logs", async () => {
    const db = await openDatabase(sidecarUrl, schema, { max: 1 });
    try {
      const page = await db.runs.list({ limit: 10 });
      expect(page.runs.map((r) => r.name)).toEqual(["web"]);
    } finally {
      await db.close();
    }
  });

  it("cannot write, create, or read Terraform state", async () => {
    const statements = writesRefusedTo(schema, stateSchema);
    expect(await refusals(sidecarUrl, statements)).toEqual(allRefused(statements));
    const { rows } = await withPg((c) => c.query(`select status from ${schema}.runs`));
    expect(rows).toEqual([{ status: "succeeded" }]);
  });

  it("also holds for tables a later migration adds (default privileges)", async () => {
    await withPg((c) => c.query(`create table ${schema}.added_later (x int)`));
    await asSidecar(async (c) => {
      expect((await c.query(`select count(*)::int as n from ${schema}.added_later`)).rows).toEqual([{ n: 0 }]);
      expect(await refusal(c, `insert into ${schema}.added_later values (1)`)).toBe("42501");
    });
  });
});
