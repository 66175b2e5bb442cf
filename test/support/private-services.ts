/**
 * Private PostgreSQL, Redis and kube-apiserver (+ etcd) instances for tests that stop, restart or
 * flush one of them. Integration test files share one platform, so such a test must never touch
 * the platform's own instances: each of these runs on a free port in a temporary directory, from
 * the same binaries `scripts/platform` uses, and is removed by close(). Nothing is mocked.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chown, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { platformDir, repoRoot } from "./paths.js";
import { waitFor } from "./wait.js";

const execFileAsync = promisify(execFile);

/** A TCP port nobody listens on right now (the platform scripts choose theirs the same way). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await execFileAsync(file, args, { env, maxBuffer: 16 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${(e.stderr || e.stdout || e.message).trim()}`, { cause: error });
  }
}

/** Spawns a long-running server with its output in `logFile`; rejects if it exits at once. */
function daemon(file: string, args: string[], logFile: string, options: { uid?: number; gid?: number } = {}): ChildProcess {
  const fd = openSync(logFile, "a");
  const child = spawn(file, args, { stdio: ["ignore", fd, fd], ...options });
  closeSync(fd);
  return child;
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

// ---- PostgreSQL -------------------------------------------------------------------------

async function pgBinDir(): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).sort((a, b) => Number(a) - Number(b));
  const latest = versions.at(-1);
  if (!latest) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql: run scripts/platform up (it installs them)");
  return `/usr/lib/postgresql/${latest}/bin`;
}

/** The uid/gid of the `postgres` user (PostgreSQL refuses to run as root). */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await run("id", ["-u", "postgres"])).trim());
  const gid = Number((await run("id", ["-g", "postgres"])).trim());
  return { uid, gid };
}

/**
 * A PostgreSQL cluster of its own (initdb + pg_ctl), as the `postgres` user when the tests run as
 * root. `stop()` is a fast shutdown (every session is terminated, as when the database goes away
 * under the operator); `start()` brings it back on the same port with its data.
 */
export class PrivatePostgres {
  private dir = "";
  private bin = "";
  private port = 0;
  private readonly password = randomBytes(16).toString("hex");
  private owner: { uid: number; gid: number } | undefined;

  get url(): string {
    return `postgres://ptm:${this.password}@127.0.0.1:${this.port}/ptm?sslmode=disable`;
  }

  /** The database password: a secret the invariants look for. */
  get secret(): string {
    return this.password;
  }

  async init(): Promise<this> {
    this.bin = await pgBinDir();
    this.owner = await postgresUser();
    this.dir = await mkdtemp(path.join(os.tmpdir(), "ptm-private-pg-"));
    if (this.owner) await chown(this.dir, this.owner.uid, this.owner.gid);
    const pwfile = path.join(this.dir, "pwfile");
    await writeFile(pwfile, this.password, { mode: 0o600 });
    if (this.owner) await chown(pwfile, this.owner.uid, this.owner.gid);
    await this.asOwner(`${this.bin}/initdb`, ["-D", this.dataDir, "-U", "ptm", `--pwfile=${pwfile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]);
    await rm(pwfile);
    this.port = await freePort();
    const conf = ["listen_addresses = '127.0.0.1'", "unix_socket_directories = ''", "max_connections = 200", "fsync = off", "synchronous_commit = off", "full_page_writes = off"];
    await this.asOwner("sh", ["-c", `printf '%s\\n' "$@" >> ${this.dataDir}/postgresql.conf`, "sh", ...conf]);
    await this.start();
    await run(`${this.bin}/createdb`, ["-h", "127.0.0.1", "-p", String(this.port), "-U", "ptm", "ptm"], { ...process.env, PGPASSWORD: this.password });
    return this;
  }

  private get dataDir(): string {
    return path.join(this.dir, "data");
  }

  private asOwner(file: string, args: string[]): Promise<string> {
    return this.owner ? run("runuser", ["-u", "postgres", "--", file, ...args]) : run(file, args);
  }

  async start(): Promise<void> {
    await this.asOwner(`${this.bin}/pg_ctl`, ["-D", this.dataDir, "-o", `-p ${this.port}`, "-l", path.join(this.dir, "server.log"), "-w", "-t", "60", "start"]);
  }

  /** Fast shutdown: open sessions are terminated, nothing is accepted until start(). */
  async stop(): Promise<void> {
    await this.asOwner(`${this.bin}/pg_ctl`, ["-D", this.dataDir, "-m", "fast", "-w", "-t", "60", "stop"]);
  }

  async close(): Promise<void> {
    if (!this.dir) return;
    await this.stop().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---- Redis ------------------------------------------------------------------------------

/** A redis-server of its own, without persistence (like the platform's): a restart loses every key. */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private port = 0;
  private dir = "";

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async init(): Promise<this> {
    this.dir = await mkdtemp(path.join(os.tmpdir(), "ptm-private-redis-"));
    this.port = await freePort();
    await this.start();
    return this;
  }

  async start(): Promise<void> {
    this.child = daemon(
      "redis-server",
      ["--bind", "127.0.0.1", "--port", String(this.port), "--dir", this.dir, "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"],
      path.join(this.dir, "redis.log"),
    );
    await waitFor("the private redis to answer PING", () => this.cli("ping").then((out) => out.trim() === "PONG", () => false), 20_000);
  }

  /** Stops the server (SIGTERM): every key is gone when it starts again. */
  async stop(): Promise<void> {
    await stopChild(this.child);
    this.child = undefined;
  }

  cli(...args: string[]): Promise<string> {
    return run("redis-cli", ["-h", "127.0.0.1", "-p", String(this.port), ...args]);
  }

  async close(): Promise<void> {
    await this.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

// ---- etcd + kube-apiserver --------------------------------------------------------------

let toolPaths: Promise<{ etcd: string; kubeBinDir: string }> | undefined;

/** The cached etcd and kube-apiserver binaries, as scripts/platform finds them. */
function kubeTools(): Promise<{ etcd: string; kubeBinDir: string }> {
  toolPaths ??= (async () => {
    const out = await run(path.join(repoRoot, "scripts/build-tools"), ["--print-env", "--only", "kube,etcd"]);
    const value = (name: string) => {
      const m = new RegExp(`^${name}=(.*)$`, "m").exec(out);
      if (!m) throw new Error(`scripts/build-tools --print-env did not print ${name}`);
      return m[1]!.replace(/^['"]|['"]$/g, "");
    };
    return { etcd: value("ETCD_BIN"), kubeBinDir: value("KUBE_BIN_DIR") };
  })();
  return toolPaths;
}

export interface PrivateKubeOptions {
  /**
   * Watches end after this many seconds (the API server picks between it and twice it), so a
   * client re-watches from its last resourceVersion often (default: the server's 1800).
   */
  minRequestTimeoutSeconds?: number;
  /** Serve watches from etcd rather than the watch cache: a compacted revision then answers 410 Gone. */
  watchCache?: boolean;
}

/**
 * etcd and kube-apiserver of their own, started like the platform's (same PKI, client-certificate
 * admin, RBAC), with a kubeconfig file in a temporary directory. restartApiServer() stops and
 * starts the API server on the same port; compact() compacts etcd to its current revision.
 */
export class PrivateKube {
  private dir = "";
  private etcd: ChildProcess | undefined;
  private apiserver: ChildProcess | undefined;
  private etcdPort = 0;
  private peerPort = 0;
  private port = 0;
  private tools!: { etcd: string; kubeBinDir: string };

  constructor(private readonly options: PrivateKubeOptions = {}) {}

  get kubeconfigPath(): string {
    return path.join(this.dir, "kubeconfig");
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.etcdPort}`;
  }

  private get pki(): string {
    return path.join(platformDir, "pki");
  }

  async init(): Promise<this> {
    this.tools = await kubeTools();
    this.dir = await mkdtemp(path.join(os.tmpdir(), "ptm-private-kube-"));
    [this.etcdPort, this.peerPort, this.port] = [await freePort(), await freePort(), await freePort()];
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.etcd = daemon(
      this.tools.etcd,
      [
        "--name", "ptm", "--data-dir", path.join(this.dir, "etcd"),
        "--listen-client-urls", this.etcdUrl, "--advertise-client-urls", this.etcdUrl,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `ptm=${peer}`,
        "--unsafe-no-fsync",
      ],
      path.join(this.dir, "etcd.log"),
    );
    await waitFor("the private etcd to be healthy", () => fetch(`${this.etcdUrl}/health`).then((r) => r.ok, () => false), 30_000);
    await this.writeKubeconfig();
    await this.startApiServer();
    return this;
  }

  private async writeKubeconfig(): Promise<void> {
    const { readFile } = await import("node:fs/promises");
    const b64 = async (file: string) => (await readFile(path.join(this.pki, file))).toString("base64");
    const config = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "private", cluster: { server: `https://127.0.0.1:${this.port}`, "certificate-authority-data": await b64("ca.crt") } }],
      users: [{ name: "admin", user: { "client-certificate-data": await b64("admin.crt"), "client-key-data": await b64("admin.key") } }],
      contexts: [{ name: "private", context: { cluster: "private", user: "admin", namespace: "default" } }],
      "current-context": "private",
    };
    await writeFile(this.kubeconfigPath, JSON.stringify(config), { mode: 0o600 });
  }

  async startApiServer(): Promise<void> {
    const pki = this.pki;
    this.apiserver = daemon(
      path.join(this.tools.kubeBinDir, "kube-apiserver"),
      [
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${this.port}`,
        `--etcd-servers=${this.etcdUrl}`,
        `--cert-dir=${path.join(this.dir, "certs")}`, `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`,
        `--client-ca-file=${pki}/ca.crt`, "--authorization-mode=RBAC",
        `--service-account-issuer=https://127.0.0.1:${this.port}`,
        `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
        "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true", "--disable-admission-plugins=ServiceAccount",
        ...(this.options.minRequestTimeoutSeconds ? [`--min-request-timeout=${this.options.minRequestTimeoutSeconds}`] : []),
        ...(this.options.watchCache === false ? ["--watch-cache=false"] : []),
      ],
      path.join(this.dir, "apiserver.log"),
    );
    await waitFor("the private kube-apiserver to be ready", () => this.get("/readyz").then((body) => body.trim() === "ok", () => false), 120_000);
  }

  async stopApiServer(): Promise<void> {
    await stopChild(this.apiserver);
    this.apiserver = undefined;
  }

  /** GET on the API server as the admin (curl, like scripts/platform's readiness check). */
  get(pathAndQuery: string): Promise<string> {
    const pki = this.pki;
    return run("curl", ["-sf", "--cacert", `${pki}/ca.crt`, "--cert", `${pki}/admin.crt`, "--key", `${pki}/admin.key`, `https://127.0.0.1:${this.port}${pathAndQuery}`]);
  }

  /** Requests the API server counted for one resource and verb (apiserver_request_total). */
  async requestCount(resource: string, verb: string): Promise<number> {
    const metrics = await this.get("/metrics");
    let total = 0;
    for (const line of metrics.split("\n")) {
      if (!line.startsWith("apiserver_request_total{")) continue;
      if (!line.includes(`resource="${resource}"`) || !line.includes(`verb="${verb}"`)) continue;
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return total;
  }

  /** etcd's current revision, then a compaction to it: a watch from any older revision gets 410 Gone. */
  async compact(): Promise<number> {
    const status = (await (await fetch(`${this.etcdUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("/").toString("base64") }) })).json()) as {
      header: { revision: string };
    };
    const revision = Number(status.header.revision);
    const res = await fetch(`${this.etcdUrl}/v3/kv/compaction`, { method: "POST", body: JSON.stringify({ revision: String(revision), physical: true }) });
    if (!res.ok) throw new Error(`etcd compaction to ${revision} failed: ${res.status} ${await res.text()}`);
    return revision;
  }

  async close(): Promise<void> {
    await this.stopApiServer();
    await stopChild(this.etcd);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
