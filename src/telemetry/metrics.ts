import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** States a ProxmoxVM's status.state takes (src/api/status.ts); each gets a series, 0 when empty. */
const VM_STATES = ["Pending", "Provisioning", "Running", "Stopped", "Failed", "Deleting"];
const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized"];

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop, GC) under their usual `process_` and `nodejs_` names. Default true. */
  defaultMetrics?: boolean;
  /** How long a collect callback (queue depth) may take before /metrics answers without it. Default 2 s. */
  collectTimeoutMs?: number;
}

/**
 * The operator's Prometheus metrics, in a Registry of their own (not prom-client's global one:
 * tests run several operators in one process). App creates one per process and hands it to the
 * controller, the worker and the sidecar; whoever serves /metrics serves this registry. Every
 * name starts with `ptm_`. docs/sidecar.md lists them.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly buildInfo: Gauge<"version" | "tool" | "provider">;
  private readonly orphanedVms: Gauge<"namespace" | "connection">;
  private readonly reconciles: Counter<"result">;
  private readonly driftChecks: Counter<"result">;
  private readonly reconcileSeconds: Histogram<"result">;
  private readonly queueWaitSeconds: Histogram;
  private readonly runs: Counter<"action" | "result">;
  private readonly runSeconds: Histogram<"action" | "result">;
  private readonly tofuSeconds: Histogram<"phase" | "result">;
  private readonly slowClients: Counter;
  private readonly httpSeconds: Histogram<"method" | "route" | "code">;
  private queueDepthSource: (() => Promise<Record<string, number>>) | undefined;
  private vmSource: (() => Iterable<{ status?: { state?: string } }>) | undefined;
  private sseClientsSource: (() => number) | undefined;

  constructor(o: MetricsOptions = {}) {
    const registers = [this.registry];
    const timeout = o.collectTimeoutMs ?? 2000;
    if (o.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges whose names end in _total (promtool's lint refuses them); nodejs_active_handles
      // and nodejs_active_requests carry the same numbers by type.
      for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) this.registry.removeSingleMetric(name);
    }
    this.buildInfo = new Gauge({
      name: "ptm_build_info",
      help: "Always 1: the operator's version, the Terraform tool and the bpg/proxmox provider version it uses.",
      labelNames: ["version", "tool", "provider"],
      registers,
    });
    this.reconciles = new Counter({ name: "ptm_reconcile_total", help: "ProxmoxVM reconciles by result (success, requeue, error).", labelNames: ["result"], registers });
    this.driftChecks = new Counter({
      name: "ptm_drift_checks_total",
      help: "Drift checks by result: unchanged (digest, node and power state as recorded: no tofu), changed or unknown (planned), full (planned: no digest kept, or the full-plan interval).",
      labelNames: ["result"],
      registers,
    });
    this.reconcileSeconds = new Histogram({
      name: "ptm_reconcile_duration_seconds",
      help: "Time one ProxmoxVM reconcile took, by result.",
      labelNames: ["result"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const queueJobs: Gauge<"state"> = new Gauge({
      name: "ptm_queue_jobs",
      help: "Runs in the BullMQ queue by state (the queue depth).",
      labelNames: ["state"],
      registers,
      collect: async () => {
        if (!this.queueDepthSource) return;
        const counts = await withTimeout(this.queueDepthSource(), timeout).catch(() => undefined);
        if (!counts) return; // Redis slow or down: keep the last values rather than hang /metrics.
        for (const state of new Set([...QUEUE_STATES, ...Object.keys(counts)])) queueJobs.set({ state }, counts[state] ?? 0);
      },
    });
    this.queueWaitSeconds = new Histogram({
      name: "ptm_queue_wait_seconds",
      help: "Time from queueing a run until a worker starts it (first attempt; includes waiting for a node slot).",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.runs = new Counter({
      name: "ptm_runs_total",
      help: "Finished Terraform runs by action (apply, destroy, forget) and result (succeeded, no_changes, failed).",
      labelNames: ["action", "result"],
      registers,
    });
    this.runSeconds = new Histogram({
      name: "ptm_run_duration_seconds",
      help: "Time one Terraform run took from start to finish, by action and result.",
      labelNames: ["action", "result"],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800],
      registers,
    });
    this.tofuSeconds = new Histogram({
      name: "ptm_tofu_phase_duration_seconds",
      help: "Time of one tofu/terraform phase (init, plan, apply, output, state) of a run, by result (ok, error).",
      labelNames: ["phase", "result"],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    const vms: Gauge<"state"> = new Gauge({
      name: "ptm_vms",
      help: "ProxmoxVMs by status.state (Pending when the operator has not written one yet).",
      labelNames: ["state"],
      registers,
      collect: () => {
        if (!this.vmSource) return;
        const counts = new Map<string, number>(VM_STATES.map((s) => [s, 0]));
        for (const vm of this.vmSource()) {
          const state = vm.status?.state ?? "Pending";
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        vms.reset();
        for (const [state, n] of counts) vms.set({ state }, n);
      },
    });
    this.orphanedVms = new Gauge({
      name: "ptm_orphaned_vms",
      help: "VMs on a connection's Proxmox whose ownership tag names a ProxmoxVM that no longer exists (see the connection's status.orphanedVms).",
      labelNames: ["namespace", "connection"],
      registers,
    });
    const sseClients: Gauge = new Gauge({
      name: "ptm_sse_clients",
      help: "Connected Server-Sent-Events clients of this sidecar.",
      registers,
      collect: () => {
        sseClients.set(this.sseClientsSource?.() ?? 0);
      },
    });
    this.slowClients = new Counter({
      name: "ptm_sse_slow_disconnects_total",
      help: "SSE clients disconnected because they read too slowly (they resume with Last-Event-ID).",
      registers,
    });
    this.httpSeconds = new Histogram({
      name: "ptm_http_request_duration_seconds",
      help: "Sidecar HTTP requests (not the SSE stream) by method, route and status code.",
      labelNames: ["method", "route", "code"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  setBuildInfo(info: { version: string; tool: string; provider: string }): void {
    this.buildInfo.reset();
    this.buildInfo.set(info, 1);
  }

  observeReconcile(result: "success" | "error" | "requeue", seconds: number): void {
    this.reconciles.inc({ result });
    this.reconcileSeconds.observe({ result }, seconds);
  }

  observeDriftCheck(result: "unchanged" | "changed" | "unknown" | "full"): void {
    this.driftChecks.inc({ result });
  }

  setQueueDepthSource(source: () => Promise<Record<string, number>>): void {
    this.queueDepthSource = source;
  }

  observeQueueWait(seconds: number): void {
    this.queueWaitSeconds.observe(Math.max(0, seconds));
  }

  observeRun(action: string, result: string, seconds: number): void {
    this.runs.inc({ action, result });
    this.runSeconds.observe({ action, result }, Math.max(0, seconds));
  }

  observeTofuPhase(phase: string, result: "ok" | "error", seconds: number): void {
    this.tofuSeconds.observe({ phase, result }, seconds);
  }

  setVmSource(source: () => Iterable<{ status?: { state?: string } }>): void {
    this.vmSource = source;
  }

  setOrphanedVms(namespace: string, connection: string, count: number): void {
    this.orphanedVms.set({ namespace, connection }, count);
  }

  setSseClientsSource(source: () => number): void {
    this.sseClientsSource = source;
  }

  sseSlowDisconnect(): void {
    this.slowClients.inc();
  }

  observeHttp(method: string, route: string, code: number, seconds: number): void {
    this.httpSeconds.observe({ method, route, code: String(code) }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out")), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
