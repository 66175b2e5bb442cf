import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { readEnv } from "../../src/config/env.js";
import { openDatabase } from "../../src/store/database.js";
import { migrate, readerRole } from "../../src/store/migrations.js";
import { withPg } from "../support/platform-data.js";
import { allRefused, refusals, writesRefusedTo } from "./read-only-login.js";
import { ensureCrds } from "../support/operator-harness.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";

/**
 * compose/compose.yaml, checked by the real `docker compose` (the compose plugin the platform
 * builds; no Docker engine runs here, so nothing is started), the real promtool, and the real API
 * server for the manifests compose/ ships.
 */

const composeDir = path.join(repoRoot, "compose");
const OPERATOR_ROLES = ["controller", "worker", "sidecar"] as const;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  user?: string;
  read_only?: boolean;
  tmpfs?: string[];
  init?: boolean;
  ports?: { target: number; published?: string; host_ip?: string }[];
  volumes?: { type: string; source?: string; target: string; read_only?: boolean }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  container_name?: string;
  networks?: Record<string, unknown>;
}

interface ComposeModel {
  name: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, { name?: string; external?: boolean }>;
  volumes?: Record<string, unknown>;
}

let scratch: string;
let emptyEnvFile: string;
let kubeconfigFile: string;

/**
 * `docker compose ... config --format json` with an environment that holds nothing of the
 * caller's shell (so only the files and `vars` decide the result) and an explicit env file (so a
 * developer's compose/.env does not either).
 */
function composeConfig(files: string[], vars: Record<string, string> = {}, envFile = emptyEnvFile): ComposeModel {
  const p = platformEnv();
  const args = [...files.flatMap((f) => ["-f", path.join(composeDir, f)]), "--env-file", envFile, "config", "--format", "json"];
  const env = { PATH: p.PATH, HOME: scratch, DOCKER_CONFIG: p.PTM_DOCKER_CONFIG!, PTM_KUBECONFIG: kubeconfigFile, ...vars };
  const dockerOnPath = spawnSync("docker", ["--version"], { env }).status === 0;
  // The docker CLI finds the compose plugin in $DOCKER_CONFIG/cli-plugins; without a docker CLI,
  // the plugin binary runs standalone with the same arguments.
  const [file, argv] = dockerOnPath ? ["docker", ["compose", ...args]] : [p.DOCKER_COMPOSE_BIN!, args];
  const result = spawnSync(file, argv, { env, encoding: "utf8", cwd: repoRoot });
  if (result.status !== 0) throw new Error(`${file} ${argv.join(" ")} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as ComposeModel;
}

function service(model: ComposeModel, name: string): ComposeService {
  const s = model.services[name];
  if (!s) throw new Error(`compose has no service ${name}`);
  return s;
}

/** The host file or directory behind a container path of a service's bind mounts. */
function hostPathOf(s: ComposeService, containerPath: string): string | undefined {
  for (const v of s.volumes ?? []) {
    if (v.type !== "bind" || !v.source) continue;
    if (containerPath === v.target) return v.source;
    if (containerPath.startsWith(`${v.target}/`)) return path.join(v.source, containerPath.slice(v.target.length + 1));
  }
  return undefined;
}

let model: ComposeModel;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), "ptm-compose-"));
  emptyEnvFile = path.join(scratch, "empty.env");
  writeFileSync(emptyEnvFile, "");
  // Stands in for the user's kubeconfig: compose only needs its path.
  kubeconfigFile = path.join(scratch, "kubeconfig");
  writeFileSync(kubeconfigFile, "apiVersion: v1\nkind: Config\n");
  model = composeConfig(["compose.yaml"]);
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("compose/compose.yaml", () => {
  it("is accepted by docker compose and has every service", () => {
    expect(model.name).toBe("proxmox-terraform-manager");
    expect(Object.keys(model.services).sort()).toEqual(["controller", "grafana", "postgres", "prometheus", "redis", "sidecar", "simulator", "worker"]);
    for (const [name, s] of Object.entries(model.services)) {
      expect(s.healthcheck?.test?.length, `${name} has a healthcheck`).toBeGreaterThan(0);
    }
  });

  it("runs the operator and the simulator as 65532 on a read-only root with writable tmpfs", () => {
    for (const name of [...OPERATOR_ROLES, "simulator"]) {
      const s = service(model, name);
      expect(s.user, name).toBe("65532:65532");
      expect(s.read_only, name).toBe(true);
      expect(s.init, name).toBe(true);
      expect(s.tmpfs, name).toContain("/tmp");
      expect(s.image, name).toBe("proxmox-terraform-manager:dev");
    }
    for (const role of OPERATOR_ROLES) {
      const s = service(model, role);
      expect(s.tmpfs, role).toContain("/var/lib/ptm/work");
      expect(s.command).toEqual(["--role", role]);
      expect(s.depends_on).toEqual({
        redis: expect.objectContaining({ condition: "service_healthy" }),
        postgres: expect.objectContaining({ condition: "service_healthy" }),
        // The sidecar's read-only login cannot migrate: it starts once the controller has.
        ...(role === "sidecar" ? { controller: expect.objectContaining({ condition: "service_healthy" }) } : {}),
      });
    }
    // One service builds the image from the repository; the others run the same tag.
    const builders = Object.entries(model.services).filter(([, s]) => s.build);
    expect(builders.map(([n]) => n)).toEqual(["controller"]);
    expect(builders[0]![1].build!.context).toBe(repoRoot);
    expect(existsSync(path.join(repoRoot, builders[0]![1].build!.dockerfile ?? "Dockerfile"))).toBe(true);
    expect(service(model, "simulator").entrypoint).toEqual(["node", "dist/src/simulator/cli.js"]);
  });

  it("points the operator at the compose Redis and PostgreSQL and at the mounted kubeconfig", () => {
    const postgres = service(model, "postgres").environment!;
    for (const role of OPERATOR_ROLES) {
      const s = service(model, role);
      const env = s.environment!;
      const redis = new URL(env.REDIS_URL!);
      expect(redis.protocol).toBe("redis:");
      expect(redis.hostname).toBe("redis");
      expect(redis.port).toBe("6379");
      const db = new URL(env.DATABASE_URL!);
      expect(db.protocol).toBe("postgres:");
      expect(db.hostname).toBe("postgres");
      expect(db.port).toBe("5432");
      // The sidecar reads with its own login (see "the sidecar's read-only login" below).
      expect(db.username).toBe(role === "sidecar" ? postgres.PTM_SIDECAR_DB_USER : postgres.POSTGRES_USER);
      expect(decodeURIComponent(db.password)).toBe(role === "sidecar" ? postgres.PTM_SIDECAR_DB_PASSWORD : postgres.POSTGRES_PASSWORD);
      expect(db.pathname).toBe(`/${postgres.POSTGRES_DB}`);
      expect(db.searchParams.get("sslmode")).toBe("disable");
      expect(hostPathOf(s, env.KUBECONFIG!)).toBe(kubeconfigFile);
      expect(s.volumes!.find((v) => v.target === env.KUBECONFIG)?.read_only).toBe(true);
    }
    expect(service(model, "redis").command).toEqual(expect.arrayContaining(["--maxmemory-policy", "noeviction"]));
    expect(service(model, "controller").environment!.PTM_METRICS_PORT).toBe("9090");
    expect(service(model, "worker").environment!.PTM_METRICS_PORT).toBe("9090");
    expect(service(model, "sidecar").environment!.PTM_SIDECAR_PORT).toBe("8080");
  });

  it("lets the worker scale: no fixed container name and no published port", () => {
    const worker = service(model, "worker");
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
    const published = Object.values(model.services).flatMap((s) => s.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    expect(published.map((p) => p.host_ip)).toEqual(published.map(() => "127.0.0.1"));
    expect(service(model, "sidecar").ports).toEqual([expect.objectContaining({ target: 8080, published: "8080" })]);
  });

  it("mounts only files that exist in the repository (besides the user's kubeconfig)", () => {
    const sources = Object.entries(model.services).flatMap(([name, s]) =>
      (s.volumes ?? []).filter((v) => v.type === "bind").map((v) => ({ name, source: v.source! })),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const { name, source } of sources) {
      if (source === kubeconfigFile) continue;
      expect(source.startsWith(`${repoRoot}/`), `${name}: ${source} is inside the repository`).toBe(true);
      expect(existsSync(source), `${name} mounts ${source}`).toBe(true);
    }
  });

  it("documents its defaults exactly in .env.example, with placeholder passwords", () => {
    const withExample = composeConfig(["compose.yaml"], {}, path.join(composeDir, ".env.example"));
    expect(withExample).toEqual(model);
    const example = readFileSync(path.join(composeDir, ".env.example"), "utf8");
    for (const line of example.split("\n").filter((l) => /PASSWORD=/.test(l))) {
      expect(line).toMatch(/=change-me$/);
    }
  });

  it("takes its knobs from the environment", () => {
    const custom = composeConfig(["compose.yaml"], { PTM_IMAGE: "registry.example/ptm:1.2.3", POSTGRES_PASSWORD: "another-placeholder", PTM_SIDECAR_HOST_PORT: "18080" });
    for (const role of OPERATOR_ROLES) {
      expect(service(custom, role).image).toBe("registry.example/ptm:1.2.3");
      expect(new URL(service(custom, role).environment!.DATABASE_URL!).password).toBe(role === "sidecar" ? "change-me" : "another-placeholder");
    }
    expect(service(custom, "postgres").environment!.POSTGRES_PASSWORD).toBe("another-placeholder");
    const sidecarLogin = composeConfig(["compose.yaml"], { POSTGRES_SIDECAR_PASSWORD: "sidecar-placeholder" });
    expect(new URL(service(sidecarLogin, "sidecar").environment!.DATABASE_URL!).password).toBe("sidecar-placeholder");
    expect(service(sidecarLogin, "postgres").environment!.PTM_SIDECAR_DB_PASSWORD).toBe("sidecar-placeholder");
    expect(new URL(service(sidecarLogin, "controller").environment!.DATABASE_URL!).password).toBe("change-me");
    expect(service(custom, "sidecar").ports).toEqual([expect.objectContaining({ target: 8080, published: "18080" })]);
  });

  it("with compose.cluster-network.yaml, joins the operator to the kind or k3d network", () => {
    const joined = composeConfig(["compose.yaml", "compose.cluster-network.yaml"], { PTM_CLUSTER_NETWORK: "k3d-ptm" });
    expect(joined.networks?.cluster).toEqual(expect.objectContaining({ name: "k3d-ptm", external: true }));
    for (const role of OPERATOR_ROLES) {
      expect(Object.keys(service(joined, role).networks ?? {}).sort()).toEqual(["cluster", "default"]);
      // The overlay adds networks and changes nothing else.
      expect({ ...service(joined, role), networks: undefined }).toEqual({ ...service(model, role), networks: undefined });
    }
    expect(Object.keys(service(joined, "simulator").networks ?? {})).toEqual(["default"]);
  });
});

describe("Prometheus and Grafana in compose", () => {
  it("has a Prometheus configuration that promtool accepts, with the chart's rules", () => {
    const prometheus = service(model, "prometheus");
    const configArg = (prometheus.command ?? []).find((a) => a.startsWith("--config.file="))!;
    const configFile = hostPathOf(prometheus, configArg.slice("--config.file=".length));
    expect(configFile).toBe(path.join(composeDir, "prometheus", "prometheus.yml"));
    const config = parseYaml(readFileSync(configFile!, "utf8")) as { rule_files: string[]; scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[] };

    // promtool reads the rule files where the container sees them: rewrite those paths to the
    // files compose mounts there, and check the result.
    const ruleFiles = config.rule_files.map((containerPath) => {
      const host = hostPathOf(prometheus, containerPath);
      expect(host, `${containerPath} is mounted`).toBeDefined();
      expect(existsSync(host!), `${host} exists`).toBe(true);
      return host!;
    });
    expect(ruleFiles).toContain(path.join(repoRoot, "charts/proxmox-terraform-manager/files/prometheus-rules.yaml"));
    const hostView = path.join(scratch, "prometheus.yml");
    writeFileSync(hostView, JSON.stringify({ ...config, rule_files: ruleFiles }));
    const check = spawnSync("promtool", ["check", "config", hostView], { encoding: "utf8", env: { ...process.env, PATH: platformEnv().PATH } });
    expect(check.status, `${check.stdout}\n${check.stderr}`).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);

    // Every operator role is scraped, on the port that role serves /metrics on.
    const ports: Record<string, string> = {
      controller: service(model, "controller").environment!.PTM_METRICS_PORT!,
      worker: service(model, "worker").environment!.PTM_METRICS_PORT!,
      sidecar: service(model, "sidecar").environment!.PTM_SIDECAR_PORT!,
    };
    for (const role of OPERATOR_ROLES) {
      const job = config.scrape_configs.find((j) => j.dns_sd_configs?.some((d) => d.names.includes(role)));
      expect(job, `a scrape job for ${role}`).toBeDefined();
      expect(String(job!.dns_sd_configs![0]!.port)).toBe(ports[role]);
    }
  });

  it("provisions Grafana with the Prometheus data source and the chart's dashboard", () => {
    const grafana = service(model, "grafana");
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ENABLED).toBe("true");
    expect(grafana.environment!.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe("Viewer");
    expect(grafana.environment!.GF_SECURITY_ADMIN_PASSWORD).toBe("change-me");

    const datasourcesDir = hostPathOf(grafana, "/etc/grafana/provisioning/datasources")!;
    const datasources = parseYaml(readFileSync(path.join(datasourcesDir, "prometheus.yaml"), "utf8")) as { datasources: { type: string; url: string; isDefault: boolean }[] };
    expect(datasources.datasources).toEqual([expect.objectContaining({ type: "prometheus", url: "http://prometheus:9090", isDefault: true })]);
    expect(service(model, "prometheus").ports).toEqual([expect.objectContaining({ target: 9090 })]);

    const dashboardsDir = hostPathOf(grafana, "/etc/grafana/provisioning/dashboards")!;
    const providers = parseYaml(readFileSync(path.join(dashboardsDir, "proxmox-terraform-manager.yaml"), "utf8")) as { providers: { type: string; options: { path: string } }[] };
    const provider = providers.providers[0]!;
    expect(provider.type).toBe("file");
    const dashboardMount = grafana.volumes!.find((v) => v.target.startsWith(`${provider.options.path}/`));
    expect(dashboardMount?.source).toBe(path.join(repoRoot, "charts/proxmox-terraform-manager/files/grafana-dashboard.json"));
    expect(grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(dashboardMount!.target);

    // The dashboard finds a provisioned data source: by a prometheus-typed variable, or by uid.
    const dashboard = JSON.parse(readFileSync(dashboardMount!.source!, "utf8")) as { templating?: { list: { type: string; query: string }[] }; panels: { datasource?: { type?: string; uid?: string } }[] };
    const usesVariable = dashboard.templating?.list.some((v) => v.type === "datasource" && v.query === "prometheus") ?? false;
    for (const panel of dashboard.panels.filter((p) => p.datasource)) {
      expect(panel.datasource!.type).toBe("prometheus");
      if (!usesVariable) expect(panel.datasource!.uid).toBe("prometheus");
    }
  });
});

describe("compose/simulator-connection.yaml", () => {
  it("carries the simulator's token and endpoint, and the API server accepts it", async () => {
    const simulator = service(model, "simulator");
    const tokenArg = simulator.command!.find((a) => a.startsWith("--token="))!.slice("--token=".length);
    const portArg = simulator.command!.find((a) => a.startsWith("--port="))!.slice("--port=".length);
    const text = readFileSync(path.join(composeDir, "simulator-connection.yaml"), "utf8");
    const [secret, connection] = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; stringData?: { token: string }; spec?: { endpoint: string; tokenSecretRef: { name: string } } });
    expect(secret!.kind).toBe("Secret");
    expect(secret!.stringData!.token).toBe(`PVEAPIToken=${tokenArg}`);
    expect(connection!.kind).toBe("ProxmoxConnection");
    const endpoint = new URL(connection!.spec!.endpoint);
    expect(endpoint.hostname).toBe("simulator");
    expect(endpoint.port).toBe(portArg);

    await ensureCrds();
    const namespace = uniqueName("compose");
    await kubectl(["create", "namespace", namespace]);
    try {
      const out = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", path.join(composeDir, "simulator-connection.yaml")]);
      expect(out).toMatch(/secret\/pve-token created \(server dry run\)/);
      expect(out).toMatch(/proxmoxconnection\.proxmox\.terraform-manager\.dev\/pve created \(server dry run\)/);
    } finally {
      await deleteNamespace(namespace);
    }
  });
});

describe("compose: the sidecar's read-only login", () => {
  const initScript = "/docker-entrypoint-initdb.d/10-sidecar-login.sh";
  // Names of this test's own: roles are cluster-wide and other tests share the server.
  const schema = `cmp_${randomBytes(4).toString("hex")}`;
  const stateSchema = `${schema}_state`;
  const login = `${schema}_sidecar`;
  const password = randomBytes(12).toString("hex");
  const adminUrl = () => {
    const url = new URL(platformEnv().DATABASE_URL);
    url.searchParams.set("sslmode", "disable");
    return url;
  };

  /** The init script as the postgres image runs it: its environment from compose, as POSTGRES_USER. */
  function runInitScript(): { status: number | null; stderr: string } {
    const postgres = service(model, "postgres");
    const admin = adminUrl();
    const env = {
      ...(Object.fromEntries(Object.entries(postgres.environment!).filter(([, v]) => v !== null)) as Record<string, string>),
      PTM_DB_SCHEMA: schema,
      PTM_SIDECAR_DB_USER: login,
      PTM_SIDECAR_DB_PASSWORD: password,
      // The platform's server instead of the container's socket.
      POSTGRES_USER: decodeURIComponent(admin.username),
      POSTGRES_DB: admin.pathname.slice(1),
      PGHOST: admin.hostname,
      PGPORT: admin.port || "5432",
      PGPASSWORD: decodeURIComponent(admin.password),
      PGSSLMODE: "disable",
      PATH: `${platformEnv().PATH}:${process.env.PATH ?? ""}`,
    };
    const result = spawnSync("bash", [hostPathOf(postgres, initScript)!], { env, encoding: "utf8" });
    if (result.error) throw result.error;
    return { status: result.status, stderr: result.stderr };
  }

  beforeAll(async () => {
    // As on a first `docker compose up`: the init script, then the operator's migrations.
    const first = runInitScript();
    expect(first, first.stderr).toEqual({ status: 0, stderr: "" });
    const pool = new pg.Pool({ connectionString: adminUrl().toString(), max: 1 });
    try {
      await migrate(pool, schema);
    } finally {
      await pool.end();
    }
    await withPg(async (c) => {
      await c.query(`create schema ${stateSchema}`);
      await c.query(`create table ${stateSchema}.states (id bigserial primary key, name text unique not null, data text)`);
      await c.query(`insert into ${schema}.runs (namespace, name, uid, generation, spec_hash, action, status) values ('ns', 'web', 'u', 1, 'h', 'apply', 'succeeded')`);
    });
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

  const sidecarUrl = () => {
    const url = adminUrl();
    url.username = login;
    url.password = password;
    return url.toString();
  };

  it("is mounted for PostgreSQL's first start and names the operator's schema", () => {
    const postgres = service(model, "postgres");
    const script = hostPathOf(postgres, initScript);
    expect(script).toBe(path.join(composeDir, "postgres/10-sidecar-login.sh"));
    expect(postgres.volumes!.find((v) => v.target === initScript)?.read_only).toBe(true);
    // The role the script makes is the one the operator's migrations grant SELECT to.
    const operator = service(model, "controller").environment!;
    const operatorSchema = readEnv({ REDIS_URL: operator.REDIS_URL!, DATABASE_URL: operator.DATABASE_URL!, ...(operator.PTM_DB_SCHEMA ? { PTM_DB_SCHEMA: operator.PTM_DB_SCHEMA } : {}) }).PTM_DB_SCHEMA;
    expect(postgres.environment!.PTM_DB_SCHEMA).toBe(operatorSchema);
  });

  it("makes a login that is a member of the reader role only, with no other power", async () => {
    const { rows } = await withPg((c) =>
      c.query(
        `select r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid) as member_of
           from pg_roles r where r.rolname = $1`,
        [login],
      ),
    );
    expect(rows).toEqual([{ rolcanlogin: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, member_of: [readerRole(schema)] }]);
  });

  it("can be run again on an initialised server (documented for older volumes)", async () => {
    expect(runInitScript()).toEqual({ status: 0, stderr: "" });
    const { rows } = await withPg((c) => c.query(`select count(*)::int as n from pg_roles where rolname in ($1, $2)`, [login, readerRole(schema)]));
    expect(rows).toEqual([{ n: 2 }]);
  });

  it("reads runs through the operator's own store, and cannot write them or read Terraform state", async () => {
    const db = await openDatabase(sidecarUrl(), schema, { max: 1 });
    try {
      expect((await db.runs.list({ limit: 10 })).runs.map((r) => r.name)).toEqual(["web"]);
    } finally {
      await db.close();
    }
    const statements = writesRefusedTo(schema, stateSchema);
    expect(await refusals(sidecarUrl(), statements)).toEqual(allRefused(statements));
    const { rows } = await withPg((c) => c.query(`select name, status from ${schema}.runs`));
    expect(rows).toEqual([{ name: "web", status: "succeeded" }]);
  });
});
