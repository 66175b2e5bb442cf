/**
 * Long-lived provider processes that tofu reattaches to (TF_REATTACH_PROVIDERS) instead of
 * starting the provider two to four times per command and hashing its binary each time.
 *
 * - A server is started with `-debug` (the plugin SDKs' reattach mode), which prints the
 *   reattach configuration on stdout and serves until it is stopped.
 * - The provider reads its credentials (PROXMOX_VE_*) from its own environment, so a server
 *   belongs to one (binary, provider environment): a rotated token or another connection gets
 *   another server. Servers are keyed by a hash of that environment; no value is kept in a name.
 * - One server serves one command at a time: a StopProvider sent for an interrupted command
 *   must not cancel another run's calls. Idle servers are reused, and stopped after `idleMs`.
 * - A server that exits is forgotten; the command that was using it fails as transient (the
 *   retry gets a new server), see `lostDuring`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { findSetpriv } from "./process.js";

/** Environment names a provider server receives from a run (credentials, endpoint, TLS trust, logging). */
const PROVIDER_ENV = /^(?:PROXMOX_VE_|SSL_CERT_|TF_LOG)/;
const START_TIMEOUT_MS = 30_000;
const REATTACH_LINE = /TF_REATTACH_PROVIDERS='(\{.*\})'/;

export interface ProviderServersOptions {
  /** Environment every server gets (PATH, HOME, proxies): the runner's inherited environment. */
  baseEnv: Record<string, string>;
  /** Stop a server idle this long. Default 5 minutes. */
  idleMs?: number;
  /** Use `setpriv --pdeathsig SIGTERM` when available, so servers die with the worker. Default true. */
  parentDeathSignal?: boolean;
}

/** A provider binary in an initialised data directory, and the address tofu knows it by. */
export interface ProviderBinary {
  /** e.g. registry.opentofu.org/bpg/proxmox */
  address: string;
  path: string;
}

export interface LeasedServers {
  /** The TF_REATTACH_PROVIDERS value for these providers. */
  reattach: string;
  /**
   * Whether a server died while leased (its command then failed for that reason). Asks each
   * server's socket: tofu can see a killed server gone before this process hears of its exit.
   */
  lost(): Promise<boolean>;
  release(): void;
}

class ProviderServer {
  idleTimer: NodeJS.Timeout | undefined;
  exited = false;

  constructor(
    readonly key: string,
    readonly child: ChildProcess,
    /** The reattach entry (Protocol, Pid, Addr, ...). */
    readonly entry: unknown,
  ) {}

  /** Whether the server still accepts connections on its socket (a dead one is stopped for good). */
  async answers(): Promise<boolean> {
    if (this.exited) return false;
    const addr = (this.entry as { Addr?: { Network?: string; String?: string } }).Addr;
    if (addr?.Network !== "unix" || !addr.String) return true;
    const alive = await new Promise<boolean>((resolve) => {
      const socket = connect({ path: addr.String! });
      socket.setTimeout(2000, () => {
        socket.destroy();
        resolve(true); // Slow, not gone.
      });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (!alive) this.stop();
    return alive;
  }

  stop(): void {
    clearTimeout(this.idleTimer);
    if (!this.exited) this.child.kill("SIGTERM");
  }
}

export class ProviderServers {
  private readonly idle = new Map<string, ProviderServer[]>();
  private readonly all = new Set<ProviderServer>();
  private started = 0;
  private stopped = false;

  constructor(private readonly o: ProviderServersOptions) {}

  /** How many servers were started since this object was made (for metrics and tests). */
  get startedCount(): number {
    return this.started;
  }

  /** Pids of the servers running now. */
  pids(): number[] {
    return [...this.all].filter((s) => !s.exited && s.child.pid !== undefined).map((s) => s.child.pid!);
  }

  /** One server per binary for one command, started when none is idle for this environment. */
  async lease(binaries: readonly ProviderBinary[], runEnv: Record<string, string>): Promise<LeasedServers> {
    const providerEnv = Object.fromEntries(Object.entries(runEnv).filter(([name]) => PROVIDER_ENV.test(name)));
    const leased: ProviderServer[] = [];
    const reattach: Record<string, unknown> = {};
    try {
      for (const binary of binaries) {
        const server = await this.take(binary, providerEnv);
        leased.push(server);
        reattach[binary.address] = server.entry;
      }
    } catch (error) {
      for (const server of leased) this.giveBack(server);
      throw error;
    }
    let released = false;
    return {
      reattach: JSON.stringify(reattach),
      lost: async () => (await Promise.all(leased.map((s) => s.answers()))).some((alive) => !alive),
      release: () => {
        if (released) return;
        released = true;
        for (const server of leased) this.giveBack(server);
      },
    };
  }

  /** Stops every server (worker shutdown). */
  stopAll(): void {
    this.stopped = true;
    for (const server of this.all) server.stop();
    this.idle.clear();
  }

  private async take(binary: ProviderBinary, providerEnv: Record<string, string>): Promise<ProviderServer> {
    if (this.stopped) throw new Error("provider servers are stopped");
    const key = createHash("sha256").update(JSON.stringify([binary.path, Object.entries(providerEnv).sort()])).digest("hex");
    const pool = this.idle.get(key) ?? [];
    for (let server = pool.pop(); server; server = pool.pop()) {
      if (server.exited) continue;
      clearTimeout(server.idleTimer);
      return server;
    }
    return this.start(key, binary, providerEnv);
  }

  private giveBack(server: ProviderServer): void {
    if (server.exited || this.stopped) return;
    const pool = this.idle.get(server.key) ?? [];
    pool.push(server);
    this.idle.set(server.key, pool);
    server.idleTimer = setTimeout(() => this.retire(server), this.o.idleMs ?? 300_000);
    server.idleTimer.unref();
  }

  private retire(server: ProviderServer): void {
    const pool = this.idle.get(server.key);
    if (pool) {
      const left = pool.filter((s) => s !== server);
      if (left.length > 0) this.idle.set(server.key, left);
      else this.idle.delete(server.key);
    }
    server.stop();
  }

  private start(key: string, binary: ProviderBinary, providerEnv: Record<string, string>): Promise<ProviderServer> {
    const env = { ...this.o.baseEnv, ...providerEnv };
    const setpriv = this.o.parentDeathSignal === false ? null : findSetpriv(env.PATH ?? "");
    const [file, args] = setpriv ? [setpriv, ["--pdeathsig", "SIGTERM", "--", binary.path, "-debug"]] : [binary.path, ["-debug"]];
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    return new Promise<ProviderServer>((resolve, reject) => {
      let output = "";
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`the provider ${binary.address} did not print its reattach configuration within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(error);
      };
      // Until the reattach line the output is kept to find it; after it, the provider's logs are
      // dropped (tofu logs what matters of each call on its side).
      child.stdout.on("data", (chunk: Buffer) => {
        if (settled) return;
        output += chunk.toString("utf8");
        const match = REATTACH_LINE.exec(output);
        if (!match) return;
        let entry: unknown;
        try {
          entry = Object.values(JSON.parse(match[1]!) as Record<string, unknown>)[0];
        } catch (error) {
          return fail(new Error(`the provider ${binary.address} printed a reattach configuration that is not JSON: ${(error as Error).message}`));
        }
        settled = true;
        clearTimeout(timer);
        const server = new ProviderServer(key, child, entry);
        this.all.add(server);
        this.started++;
        child.once("exit", () => {
          server.exited = true;
          clearTimeout(server.idleTimer);
          this.all.delete(server);
        });
        resolve(server);
      });
      child.stderr.resume();
      child.once("error", (error) => fail(new Error(`cannot start the provider ${binary.address}: ${error.message}`)));
      child.once("exit", (code, signal) => fail(new Error(`the provider ${binary.address} exited (${signal ?? `code ${code}`}) before it was ready`)));
    });
  }
}
