/**
 * The simulator's runtime: cluster state, tasks, locks, faults and behaviour settings, shared by
 * all route handlers; plus the bookkeeping tests inspect (served routes, unknown routes) and the
 * debounced persistence of state to a file.
 */
import { appendFileSync } from "node:fs";
import { fail, missingConfigMessage } from "./errors.js";
import { InjectedFaultTally, NO_FAULTS, lockTimeoutForced, type Faults } from "./faults.js";
import { TicketSigner } from "./access.js";
import { LockManager } from "./locks.js";
import { saveStateFile, type ClusterState, type NodeState, type VmState } from "./state.js";
import { StorageFiles } from "./storage-files.js";
import { TaskRunner } from "./tasks.js";

export interface Behaviour {
  /** Default simulated duration of every task, in ms (0 = finish at once). */
  taskDurationMs: number;
  /** Per task type overrides, e.g. { qmclone: 2000 }. */
  taskDurations: Record<string, number>;
  /** Time from VM start until its guest agent answers. */
  bootDelayMs: number;
  /** How long a config lock waits before "got timeout" (Proxmox: 10 s; clone locks 1 s). */
  lockWaitMs: number;
  /** Delay before a 401 answer (Proxmox: 3 s). */
  unauthorizedDelayMs: number;
}

export const DEFAULT_BEHAVIOUR: Behaviour = {
  taskDurationMs: 0,
  taskDurations: {},
  bootDelayMs: 0,
  lockWaitMs: 10_000,
  unauthorizedDelayMs: 3_000,
};

export interface CallRecord {
  method: string;
  route: string;
  count: number;
  /** Distinct User-Agent headers of the callers ("(none)" when absent). */
  clients: string[];
}

export interface UnknownRoute {
  method: string;
  path: string;
  at: string;
  /** Whether the request carried valid credentials (unknown routes are recorded either way). */
  authenticated?: boolean;
}

export class SimContext {
  readonly locks = new LockManager();
  /** Signs and checks login tickets and CSRF tokens (key per simulator run, kept over resets). */
  readonly tickets = new TicketSigner();
  readonly tasks: TaskRunner;
  faults: Faults = { ...NO_FAULTS };
  readonly injectedFaults = new InjectedFaultTally();
  readonly calls = new Map<string, CallRecord>();
  unknownRoutes: UnknownRoute[] = [];
  /** SHA-256 fingerprint of the server certificate (shown in GET /nodes as ssl_fingerprint). */
  fingerprint: string | undefined;
  /** Size of the node's /var/tmp, where uploads land before the handler runs (8 GiB). */
  uploadTmpBytes = 8 * 1024 ** 3;
  /** Route coverage file: served route templates are appended to it (see recordCall). */
  routeLog: string | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  /** Set by dispose(): tasks of a closed simulator may still end, but must not overwrite the state file. */
  private disposed = false;

  constructor(
    public state: ClusterState,
    public behaviour: Behaviour,
    private readonly stateFile: string | undefined,
    readonly random: () => number = Math.random,
    readonly log: (line: string) => void = () => {},
    /** Where file-based storages keep their files. */
    readonly files: StorageFiles = StorageFiles.temporary(),
  ) {
    this.tasks = new TaskRunner({
      durationMs: (type) => this.behaviour.taskDurations[type] ?? this.behaviour.taskDurationMs,
      failureRate: () => this.faults.taskFailureRate,
      random: () => this.random(),
      onChange: () => this.changed(),
      onInjectedFailure: () => this.injectedFaults.record("failedTasks"),
    });
    this.locks.forcedTimeout = (vmid) => {
      const forced = lockTimeoutForced(this.faults, vmid);
      if (forced) this.injectedFaults.record("lockTimeouts");
      return forced;
    };
  }

  /** Marks state as modified; with a state file, saves shortly after. */
  changed(): void {
    if (!this.stateFile || this.saveTimer || this.disposed) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 20);
  }

  save(): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    if (this.stateFile) saveStateFile(this.stateFile, this.state, this.tasks.list());
  }

  recordCall(method: string, route: string, userAgent: string | undefined): void {
    const key = `${method} ${route}`;
    const client = userAgent || "(none)";
    const rec = this.calls.get(key);
    if (!rec) {
      this.calls.set(key, { method, route, count: 1, clients: [client] });
      this.appendRouteLog(key, client);
    } else {
      rec.count++;
      if (!rec.clients.includes(client)) {
        rec.clients.push(client);
        this.appendRouteLog(key, client);
      }
    }
  }

  /** One `METHOD /template<TAB>client` line per route and client first served (since start or reset). */
  private appendRouteLog(key: string, client: string): void {
    if (this.routeLog) appendFileSync(this.routeLog, `${key}\t${client}\n`);
  }

  /** The node must exist; Proxmox's proxy fails its hostname lookup otherwise. */
  requireNode(node: string): NodeState {
    const n = this.state.nodes[node];
    if (!n) throw fail(`hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`);
    return n;
  }

  /** PVE::QemuConfig->load_config on `node`. */
  requireVm(node: string, vmid: number): VmState {
    this.requireNode(node);
    const vm = this.state.vms[vmid];
    if (!vm || vm.node !== node) throw fail(missingConfigMessage(node, vmid));
    return vm;
  }

  /** The lock wait of lock_config (10 s in Proxmox), bounded by the behaviour setting. */
  lockWait(proxmoxSeconds = 10): number {
    return Math.min(proxmoxSeconds * 1000, this.behaviour.lockWaitMs);
  }

  dispose(): void {
    if (this.saveTimer) this.save();
    this.disposed = true;
    this.locks.reset();
    if (this.files.temporary) this.files.clear();
  }
}
