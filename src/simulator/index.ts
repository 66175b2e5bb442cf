/**
 * Programmatic entry point: `startSimulator(options)` starts a Proxmox VE API simulator on
 * https://127.0.0.1:<port>/ (port 0 picks a free one) and returns its URL, API token,
 * certificate fingerprint, live state access and close(). Used by tests and the demo; the CLI
 * (cli.ts) wraps it.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { simulatorCertificate } from "./cert.js";
import { DEFAULT_BEHAVIOUR, SimContext, type Behaviour, type CallRecord, type UnknownRoute } from "./context.js";
import { NO_FAULTS, updateFaults, type Faults, type InjectedFaultCounts } from "./faults.js";
import { accessGuard } from "./access-guard.js";
import { registerAccessRoutes } from "./routes/access.js";
import { registerAccessControlRoutes } from "./routes/access-control.js";
import { registerAgentRoutes } from "./routes/agent.js";
import { registerClusterRoutes } from "./routes/cluster.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerMappingRoutes } from "./routes/mapping.js";
import { registerQemuRoutes } from "./routes/qemu.js";
import { registerQemuDiskRoutes } from "./routes/qemu-disks.js";
import { registerQemuMigrateRoutes } from "./routes/qemu-migrate.js";
import { registerHaRoutes } from "./routes/ha.js";
import { registerStorageRoutes } from "./routes/storage.js";
import { Router } from "./router.js";
import { defaultSeed, loadSeedFile, parseSeed, type Seed, type SeedInput } from "./seed.js";
import { createServer } from "./server.js";
import { createSimApi, dumpState } from "./sim-api.js";
import { startNodeSsh, type NodeSshEndpoint } from "./node-ssh.js";
import { StorageFiles } from "./storage-files.js";
import { loadStateFile, stateFromSeed, usersFromSeed, type ClusterState, type Token } from "./state.js";

export type { Behaviour, CallRecord, UnknownRoute } from "./context.js";
export type { Faults, InjectedFaultCounts } from "./faults.js";
export type { ClusterState, VmState, StorageState, PoolState, NodeState } from "./state.js";
export type { SeedInput } from "./seed.js";
export { DEFAULT_SEED } from "./seed.js";

export interface SimulatorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  /** Seed: a JSON/YAML file path or an inline seed object; default seed when omitted. */
  config?: string | SeedInput;
  /** Persist state here and restore it at start when the file exists. */
  stateFile?: string;
  /**
   * Where file-based storages keep their files (ISOs, snippets, downloads); default: next to
   * the state file (`<stateFile>.files`), else a temporary directory removed at close.
   */
  dataDir?: string;
  /** API token `USER@REALM!TOKENID=SECRET`; default: the seed's first token, else a generated one. */
  token?: string;
  taskDurationMs?: number;
  taskDurations?: Record<string, number>;
  bootDelayMs?: number;
  lockWaitMs?: number;
  unauthorizedDelayMs?: number;
  /** Request log sink; false (default for embedding) keeps quiet. */
  log?: ((line: string) => void) | false;
  random?: () => number;
  /** Serve each node's SSH (default: as the seed's `ssh.enabled` says). */
  ssh?: boolean;
  /** Size of the node's /var/tmp that uploads are received into (default 8 GiB). */
  uploadTmpBytes?: number;
  /**
   * Route coverage: append `METHOD /route/template<TAB>user agent` to this file for each route
   * (and client) first served since start or reset. Default: the `PVE_SIM_ROUTE_LOG`
   * environment variable, so test runs can record coverage without code changes
   * (bench/route-coverage.ts reads these files).
   */
  routeLog?: string;
}

export interface RunningSimulator {
  /** Base URL for the provider's `endpoint`: https://127.0.0.1:PORT/ */
  url: string;
  port: number;
  /** Full token for PROXMOX_VE_API_TOKEN: USER@REALM!TOKENID=SECRET */
  token: string;
  tokenId: string;
  /** SHA-256 fingerprint of the self-signed certificate. */
  fingerprint: string;
  /** The nodes' SSH endpoints, when served. */
  ssh: NodeSshEndpoint[];
  context: SimContext;
  state(): ClusterState;
  dump(): ReturnType<typeof dumpState>;
  setFaults(faults: Partial<Faults>): Faults;
  setBehaviour(behaviour: Partial<Behaviour>): Behaviour;
  calls(): CallRecord[];
  unknownRoutes(): UnknownRoute[];
  /** How often each injected fault fired since start or the last reset. */
  injectedFaults(): InjectedFaultCounts;
  /** Back to the seed and the start-up behaviour (tokens kept); clears tasks, locks, faults, calls. */
  reset(): void;
  /** Resolves when no task is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

function parseToken(token: string): Token {
  const m = /^([^\s@!:]+@[^\s@!]+![^\s=]+)=(\S+)$/.exec(token);
  if (!m) throw new Error("token must look like USER@REALM!TOKENID=SECRET");
  return { id: m[1] as string, secret: m[2] as string };
}

function loadSeed(config: SimulatorOptions["config"]): Seed {
  if (config === undefined) return defaultSeed();
  if (typeof config === "string") return loadSeedFile(config);
  return parseSeed(config);
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const seed = loadSeed(options.config);
  const restored = options.stateFile ? loadStateFile(options.stateFile) : undefined;
  const tokens: Token[] = options.token
    ? [parseToken(options.token)]
    : seed.tokens && seed.tokens.length > 0
      ? seed.tokens
      : (restored?.state.tokens ?? [{ id: "root@pam!pve-sim", secret: randomUUID() }]);
  const behaviour: Behaviour = {
    taskDurationMs: options.taskDurationMs ?? seed.behaviour.taskDurationMs ?? DEFAULT_BEHAVIOUR.taskDurationMs,
    taskDurations: options.taskDurations ?? seed.behaviour.taskDurations ?? {},
    bootDelayMs: options.bootDelayMs ?? seed.behaviour.bootDelayMs ?? DEFAULT_BEHAVIOUR.bootDelayMs,
    lockWaitMs: options.lockWaitMs ?? seed.behaviour.lockWaitMs ?? DEFAULT_BEHAVIOUR.lockWaitMs,
    unauthorizedDelayMs: options.unauthorizedDelayMs ?? seed.behaviour.unauthorizedDelayMs ?? DEFAULT_BEHAVIOUR.unauthorizedDelayMs,
  };
  const log = options.log === undefined || options.log === false ? () => {} : options.log;
  const initial = restored
    ? { ...restored.state, mappings: restored.state.mappings ?? { pci: {}, usb: {}, dir: {} }, tokens, users: restored.state.users ?? usersFromSeed(seed, tokens) }
    : stateFromSeed(seed, tokens);
  const dataDir = options.dataDir ?? (options.stateFile ? `${options.stateFile}.files` : undefined);
  const files = dataDir ? new StorageFiles(dataDir) : StorageFiles.temporary();
  const ctx = new SimContext(initial, { ...behaviour }, options.stateFile, options.random ?? Math.random, log, files);
  if (restored) ctx.tasks.load(restored.tasks);
  if (options.uploadTmpBytes !== undefined) ctx.uploadTmpBytes = options.uploadTmpBytes;
  ctx.routeLog = options.routeLog ?? (process.env.PVE_SIM_ROUTE_LOG || undefined);

  const router = new Router();
  registerAccessRoutes(router);
  registerClusterRoutes(router);
  registerMappingRoutes(router);
  registerNodeRoutes(router);
  registerStorageRoutes(router);
  registerQemuRoutes(router);
  registerAgentRoutes(router);
  registerAccessControlRoutes(router);
  registerQemuDiskRoutes(router);
  registerQemuMigrateRoutes(router);
  registerHaRoutes(router);
  router.guard(accessGuard);

  const reset = () => {
    ctx.behaviour = { ...behaviour, taskDurations: { ...behaviour.taskDurations } };
    ctx.locks.reset();
    ctx.tasks.reset();
    ctx.state = stateFromSeed(seed, tokens);
    ctx.files.clear();
    ctx.faults = { ...NO_FAULTS };
    ctx.injectedFaults.reset();
    ctx.calls.clear();
    ctx.unknownRoutes = [];
    ctx.changed();
  };

  const certificate = simulatorCertificate();
  ctx.fingerprint = certificate.fingerprint;
  const server = createServer({
    ctx: () => ctx,
    router,
    sim: createSimApi(() => ctx, reset),
    key: certificate.key,
    cert: certificate.cert,
    log,
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const ssh: NodeSshEndpoint[] = [];
  if (options.ssh ?? seed.ssh.enabled) {
    const names = Object.keys(ctx.state.nodes);
    for (const [i, name] of names.entries()) {
      ssh.push(await startNodeSsh(() => ctx, name, host, seed.ssh.port ? seed.ssh.port + i : 0));
    }
  }
  const first = tokens[0] as Token;
  ctx.changed();

  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    port,
    token: `${first.id}=${first.secret}`,
    tokenId: first.id,
    fingerprint: certificate.fingerprint,
    ssh,
    context: ctx,
    state: () => ctx.state,
    dump: () => dumpState(ctx),
    setFaults: (faults) => (ctx.faults = updateFaults(ctx.faults, faults)),
    setBehaviour: (b) => (ctx.behaviour = { ...ctx.behaviour, ...b }),
    calls: () => [...ctx.calls.values()],
    unknownRoutes: () => [...ctx.unknownRoutes],
    injectedFaults: () => ctx.injectedFaults.snapshot(),
    reset,
    idle: () => ctx.tasks.idle(),
    close: async () => {
      for (const endpoint of ssh) await endpoint.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      ctx.dispose();
      ctx.save();
    },
  };
}
