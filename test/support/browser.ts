import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { RunEventView, RunView } from "../../src/events/views.js";
import type { RunAction, RunStatus } from "../../src/store/run-store.js";
import { repoRoot } from "./paths.js";

/** Debian's chromium (scripts/ensure-chromium installs it); PTM_CHROMIUM points elsewhere. */
export const chromiumPath = process.env.PTM_CHROMIUM ?? "/usr/bin/chromium";
export const publicDir = path.join(repoRoot, "src/http/public");
export const artifactsDir = path.join(repoRoot, "test/artifacts");

/**
 * Launches the real Chromium, headless. Playwright gives every launch a fresh temporary
 * user-data directory (and removes it on close), so no profile, cache or sessionStorage
 * survives from one test to the next.
 */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: run scripts/ensure-chromium (installs Debian's chromium)`);
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export const DESKTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 } as const;
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true } as const;

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** What went wrong in the page: uncaught errors, CSP refusals, static files that failed to load. */
  problems: string[];
  /** Every console error, with where it came from (e.g. a module refused for its MIME type). */
  consoleErrors: string[];
}

/** A new context (own storage) and page; problems the page runs into are collected, not thrown. */
export async function openPage(browser: Browser, device: typeof DESKTOP | typeof PHONE, options: { colorScheme?: "light" | "dark" } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ ...device, colorScheme: options.colorScheme ?? "light", locale: "en-US", timezoneId: "UTC" });
  const page = await context.newPage();
  const problems: string[] = [];
  const consoleErrors: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
    if (message.type() === "error") consoleErrors.push(`${text} (${message.location().url})`);
  });
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && !url.pathname.includes("/api/")) problems.push(`${response.status()} for ${url.pathname}`);
  });
  page.on("requestfailed", (request) => {
    const url = new URL(request.url());
    // The event stream is aborted on purpose when the page navigates or closes.
    if (!url.pathname.endsWith("/api/v1/events")) problems.push(`request failed: ${url.pathname} (${request.failure()?.errorText})`);
  });
  return { context, page, problems, consoleErrors };
}

/** Saves test/artifacts/status-page-<name>.png (git-ignored) and returns its path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `status-page-${name}.png`);
  // Let flashes and the connection pulse settle, so the picture shows the steady state.
  await page.waitForTimeout(300);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? false, animations: "disabled" });
  return file;
}

// ---- a cable to pull --------------------------------------------------------------------------

/**
 * A TCP relay between the browser and the sidecar, so a test can cut the connection the way a
 * flaky network or a restarting Service does: `cut()` drops every connection and refuses new
 * ones (they are accepted and closed at once) until `restore()`.
 */
export class TcpRelay {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private open = true;
  url = "";

  constructor(private readonly target: URL) {
    this.server = net.createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(Number(this.target.port), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---- a path prefix in front of the sidecar ---------------------------------------------------

/**
 * Serves the sidecar under a path prefix, the way `kubectl proxy` or an ingress sub-path does:
 * `<url><prefix>x` is the sidecar's `/x`, anything outside the prefix is a 404. Proves the
 * page's URLs (assets, module imports, API, stream) are all relative.
 */
export class PrefixProxy {
  private readonly server: http.Server;
  url = "";

  constructor(
    private readonly target: URL,
    readonly prefix: string,
  ) {
    if (!prefix.startsWith("/") || !prefix.endsWith("/")) throw new Error(`prefix ${prefix}: must start and end with /`);
    this.server = http.createServer((req, res) => {
      const path = req.url ?? "/";
      if (!path.startsWith(prefix)) {
        res.writeHead(404).end("outside the prefix");
        return;
      }
      const upstream = http.request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: path.slice(prefix.length - 1), headers: { ...req.headers, host: this.target.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---- a stand-in sidecar, for working on the page without the operator ------------------------
//
// `npx tsx test/support/browser.ts fake-sidecar [port]` serves src/http/public with the real
// CSP and a scripted API and event stream (the contract in docs/status-page.md), so the page can
// be worked on in a browser in seconds. Tests use the real sidecar (test/http/browser.test.ts).

interface FakeEvent {
  id: number;
  event: "vm" | "run" | "log" | "reset";
  data: string;
  namespace: string;
  name: string;
  runId?: string;
}

/** A run as the real API shows it, with its log kept beside it. */
type FakeRun = RunView & { log: RunEventView[] };

type FakeVm = {
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  creationTimestamp: string;
  nodeName: string;
  status: Record<string, unknown> & { conditions?: Record<string, string>[] };
};

export interface FakeSidecar {
  url: string;
  close(): Promise<void>;
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml" };

export async function startFakeSidecar(options: { port?: number; token?: string; tickMs?: number } = {}): Promise<FakeSidecar> {
  const vms = new Map<string, FakeVm>();
  const runs: FakeRun[] = [];
  const history: FakeEvent[] = [];
  const clients = new Set<{ res: http.ServerResponse; filter: Record<string, string | undefined> }>();
  let nextId = 1;
  const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
  const cond = (type: string, status: string, reason: string, message: string, s = 60) => ({ type, status, reason, message, lastTransitionTime: ago(s) });

  const publish = (event: FakeEvent["event"], payload: object, namespace: string, name: string, runId?: string) => {
    const entry: FakeEvent = { id: nextId++, event, data: JSON.stringify(payload), namespace, name, ...(runId ? { runId } : {}) };
    history.push(entry);
    if (history.length > 5000) history.shift();
    for (const client of clients) send(client, entry);
  };
  const send = (client: { res: http.ServerResponse; filter: Record<string, string | undefined> }, e: FakeEvent) => {
    const f = client.filter;
    if ((f.namespace && e.namespace !== f.namespace) || (f.name && e.name !== f.name) || (f.run && e.runId !== f.run)) return;
    client.res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`);
  };
  const putVm = (vm: FakeVm) => {
    vms.set(`${vm.namespace}/${vm.name}`, vm);
    publish("vm", { type: "upsert", vm }, vm.namespace, vm.name);
  };
  const runView = (r: FakeRun) => {
    const { log: _log, ...view } = r;
    return view;
  };
  const newRun = (vm: FakeVm, action: RunAction, reason: string, startedSecondsAgo: number, status: RunStatus = "running"): FakeRun => {
    const run: FakeRun = {
      id: randomUUID(),
      namespace: vm.namespace,
      name: vm.name,
      action,
      status,
      reason,
      attempt: 1,
      generation: vm.generation,
      createdAt: ago(startedSecondsAgo + 1),
      startedAt: ago(startedSecondsAgo),
      finishedAt: null,
      addCount: null,
      changeCount: null,
      destroyCount: null,
      error: null,
      errorKind: null,
      log: [],
    };
    runs.push(run);
    return run;
  };
  const finishRun = (run: FakeRun, status: RunStatus, counts: [number, number, number] | null, error?: [string, string]) => {
    run.status = status;
    run.finishedAt = new Date(Math.min(Date.now(), Date.parse(run.startedAt ?? run.createdAt) + 14_000 + run.log.length * 900)).toISOString();
    if (counts) [run.addCount, run.changeCount, run.destroyCount] = counts;
    if (error) [run.errorKind, run.error] = error;
  };
  const logLine = (run: FakeRun, level: string, type: string, message: string) => {
    const line = { runId: run.id, seq: run.log.length + 1, ts: new Date().toISOString(), level, type, message };
    run.log.push(line);
    publish("log", { ...line, namespace: run.namespace, name: run.name }, run.namespace, run.name, run.id);
  };

  // A few VMs in every state, with history to page through.
  const seed = (namespace: string, name: string, node: string, ageS: number, status: FakeVm["status"]): FakeVm => {
    const vm: FakeVm = { namespace, name, uid: randomUUID(), generation: 1, creationTimestamp: ago(ageS), nodeName: node, status };
    vms.set(`${namespace}/${name}`, vm);
    return vm;
  };
  const ready = (message = "the VM matches generation 1") => cond("Ready", "True", "Applied", message, 3000);
  const web = seed("prod", "web-01", "pve1", 86_400 * 3, { state: "Running", vmId: 101, node: "pve1", ipAddresses: ["192.0.2.21"], observedGeneration: 1, conditions: [ready(), cond("Reconciling", "False", "Idle", "")] });
  const old = newRun(web, "apply", "created", 86_400 * 3);
  finishRun(old, "succeeded", [1, 0, 0]);
  for (let i = 0; i < 45; i++) finishRun(newRun(web, "apply", "drift-check", 3600 * (45 - i)), "no_changes", [0, 0, 0]);
  web.status.lastRun = { id: runs[runs.length - 1]!.id, action: "apply", result: "no_changes", startedAt: ago(3600), finishedAt: ago(3590) };
  seed("prod", "web-02", "pve2", 86_400 * 3, { state: "Running", vmId: 102, node: "pve2", ipAddresses: ["192.0.2.22", "2001:db8::22"], observedGeneration: 1, conditions: [ready()] });
  const db = seed("prod", "db-primary", "pve1", 7200, {
    state: "Failed",
    vmId: 110,
    node: "pve1",
    observedGeneration: 2,
    conditions: [cond("Ready", "False", "ApplyFailed", "disk scsi1: storage 'fast-nvme' does not exist on node pve1 <img src=x onerror=alert(1)>"), cond("Stalled", "True", "InvalidSpec", "spec.disks[1].datastoreId: storage 'fast-nvme' does not exist")],
  });
  const failed = newRun(db, "apply", "spec-changed", 600);
  logLine(failed, "info", "command", "tofu apply -auto-approve -input=false -json plan.tfplan");
  logLine(failed, "error", "diagnostic", "Error: storage 'fast-nvme' does not exist <script>alert(1)</script>");
  finishRun(failed, "failed", null, ["permanent", "storage 'fast-nvme' does not exist on node pve1"]);
  db.status.lastRun = { id: failed.id, action: "apply", result: "failed", startedAt: failed.startedAt!, finishedAt: failed.finishedAt! };
  seed("staging", "ci-runner", "pve2", 400, { state: "Deleting", vmId: 120, node: "pve2", conditions: [cond("Ready", "False", "Deleting", "destroying the VM")] });
  seed("staging", "queue-broker", "pve3", 30, { state: "Pending", conditions: [cond("Ready", "Unknown", "Queued", "waiting for a worker")] });

  // The live part: a VM that is created, works through a run with a streaming log, and comes up; again and again.
  let cycle = 0;
  const script: [number, () => void][] = [];
  const live = () => {
    cycle++;
    const vm: FakeVm = { namespace: "staging", name: "app-static", uid: randomUUID(), generation: cycle, creationTimestamp: ago(2), nodeName: "pve1", status: { state: "Pending" } };
    const run = newRun(vm, "apply", cycle === 1 ? "created" : "spec-changed", 0);
    const lines: [string, string, string][] = [
      ["info", "run", `apply run started by worker-7d9f (reason: ${run.reason}, attempt 1)`],
      ["info", "command", "tofu init -input=false -no-color"],
      ["info", "log", "Initializing the backend..."],
      ["info", "log", "Initializing provider plugins..."],
      ["info", "log", '- Using previously-installed bpg/proxmox v0.111.1'],
      ["info", "command", "tofu plan -input=false -json -out=plan.tfplan"],
      ["info", "version", "OpenTofu 1.12.6"],
      ["info", "planned_change", "proxmox_virtual_environment_vm.vm: Plan to create"],
      ["warn", "diagnostic", "Warning: the guest agent is enabled but no agent timeout is set; using the default of 15m"],
      ["info", "change_summary", "Plan: 1 to add, 0 to change, 0 to destroy."],
      ["info", "command", "tofu apply -auto-approve -input=false -json plan.tfplan"],
      ["info", "apply_start", "proxmox_virtual_environment_vm.vm: Creating..."],
      ["debug", "log", "POST /api2/json/nodes/pve1/qemu/9000/clone (newid=130)"],
      ["info", "apply_progress", "proxmox_virtual_environment_vm.vm: Still creating... [10s elapsed]"],
      ["error", "log", "proxmox: got lock timeout on VM 130 (retrying in 2s)"],
      ["info", "apply_progress", "proxmox_virtual_environment_vm.vm: Still creating... [20s elapsed]"],
      ["info", "apply_complete", "proxmox_virtual_environment_vm.vm: Creation complete after 24s [id=130]"],
      ["info", "change_summary", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."],
      ["info", "run", "applied: 1 added, 0 changed, 0 destroyed"],
    ];
    script.push([1, () => putVm(vm)]);
    script.push([
      2,
      () => {
        vm.status = { ...vm.status, state: "Provisioning", vmId: 130, node: "pve1", conditions: [cond("Ready", "Unknown", "Planning", "planning", 0), cond("Reconciling", "True", "Planning", "planning", 0)], lastRun: { id: run.id, action: "apply", result: "running", startedAt: run.startedAt } };
        putVm(vm);
        publish("run", runView(run), vm.namespace, vm.name, run.id);
      },
    ]);
    lines.forEach((line, i) => {
      script.push([1, () => logLine(run, ...line)]);
      if (i === 11) {
        script.push([
          0,
          () => {
            vm.status = { ...vm.status, conditions: [cond("Ready", "Unknown", "Cloning", "cloning the template and configuring the VM", 0), cond("Reconciling", "True", "Cloning", "cloning", 0)] };
            putVm(vm);
          },
        ]);
      }
    });
    script.push([
      2,
      () => {
        finishRun(run, "succeeded", [1, 0, 0]);
        publish("run", runView(run), vm.namespace, vm.name, run.id);
        vm.status = { ...vm.status, state: "Running", ipAddresses: ["192.0.2.20"], observedGeneration: vm.generation, conditions: [cond("Ready", "True", "Applied", `the VM matches generation ${vm.generation}`, 0), cond("Reconciling", "False", "Idle", "", 0)], lastRun: { id: run.id, action: "apply", result: "succeeded", startedAt: run.startedAt, finishedAt: run.finishedAt } };
        putVm(vm);
      },
    ]);
    script.push([25, () => live()]);
  };
  live();
  let wait = 0;
  const timer = setInterval(() => {
    if (wait-- > 0) return;
    const step = script.shift();
    if (!step) return;
    wait = step[0];
    step[1]();
  }, options.tickMs ?? 400);

  const authorized = (req: http.IncomingMessage, url: URL) => {
    if (!options.token) return true;
    return req.headers.authorization === `Bearer ${options.token}` || url.searchParams.get("access_token") === options.token;
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", "Content-Security-Policy": CSP });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const p = url.pathname;
    if (p.startsWith("/api/")) {
      if (!authorized(req, url)) return json(res, 401, { error: { code: "Unauthorized", message: "a read token is required" } });
      if (p === "/api/v1/vms") return json(res, 200, { items: [...vms.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)) });
      if (p === "/api/v1/runs") {
        const ns = url.searchParams.get("namespace");
        const name = url.searchParams.get("name");
        const limit = Number(url.searchParams.get("limit") ?? 50);
        const offset = Number(url.searchParams.get("cursor") ?? 0);
        const all = runs.filter((r) => (!ns || r.namespace === ns) && (!name || r.name === name)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        return json(res, 200, { items: all.slice(offset, offset + limit).map(runView), nextCursor: offset + limit < all.length ? String(offset + limit) : null });
      }
      const m = /^\/api\/v1\/runs\/([^/]+)(\/events)?$/.exec(p);
      const run = m ? runs.find((r) => r.id === m[1]) : undefined;
      if (m && !run) return json(res, 404, { error: { code: "NotFound", message: `no run ${m[1]}` } });
      if (run && m?.[2]) return json(res, 200, { items: run.log.filter((l) => l.seq > Number(url.searchParams.get("after") ?? 0)).slice(0, 500) });
      if (run) return json(res, 200, runView(run));
      if (p === "/api/v1/events") {
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", "Content-Security-Policy": CSP });
        res.write("retry: 2000\n\n");
        const client = { res, filter: { namespace: url.searchParams.get("namespace") ?? undefined, name: url.searchParams.get("name") ?? undefined, run: url.searchParams.get("run") ?? undefined } };
        const last = Number(req.headers["last-event-id"] ?? NaN);
        if (!Number.isNaN(last)) {
          if (history.length && history[0]!.id > last + 1) res.write(`id: ${nextId - 1}\nevent: reset\ndata: {}\n\n`);
          else for (const e of history) if (e.id > last) send(client, e);
        }
        clients.add(client);
        const beat = setInterval(() => res.write(": hb\n\n"), 10_000);
        req.on("close", () => {
          clearInterval(beat);
          clients.delete(client);
        });
        return;
      }
      return json(res, 404, { error: { code: "NotFound", message: `no route ${p}` } });
    }
    const file = path.join(publicDir, p === "/" ? "index.html" : path.normalize(p).replace(/^(\.\.[/\\])+/, ""));
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Content-Security-Policy": CSP, "Cache-Control": "no-cache" });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Security-Policy": CSP }).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => {
      clearInterval(timer);
      for (const c of clients) c.res.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === "fake-sidecar") {
  const port = Number(process.argv[3] ?? 8080);
  const fake = await startFakeSidecar({ port, ...(process.env.PTM_FAKE_TOKEN ? { token: process.env.PTM_FAKE_TOKEN } : {}) });
  console.log(`fake sidecar: ${fake.url}`);
}
