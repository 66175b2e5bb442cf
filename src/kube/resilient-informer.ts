import { ListWatch, Watch, type Informer, type KubeConfig, type KubernetesObject, type ListPromise, type ObjectCache } from "@kubernetes/client-node";
import type { Logger } from "pino";

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Watch path, e.g. /apis/group/v1/proxmoxvms or /apis/group/v1/namespaces/ns/proxmoxvms. */
  path: string;
  list: ListPromise<T>;
  /** Called for every add/update/delete and on each resync; must only enqueue (it is synchronous). */
  onChange: (obj: T, kind: "add" | "update" | "delete" | "resync") => void;
  resyncIntervalMs: number;
  logger: Logger;
  name: string;
  maxBackoffMs?: number;
  /**
   * Keep only objects in these namespaces (a cluster-wide watch serving several namespaces): the
   * others never reach the cache or onChange.
   */
  namespaces?: readonly string[];
}

/**
 * client-node's informer re-lists on 410 Gone but stops on any other error; this wrapper
 * restarts it with exponential backoff, resyncs every key periodically (so a lost event or a
 * lost queue heals), and exposes the cache.
 */
export class ResilientInformer<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private stopped = true;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private readonly syncedWaiters: (() => void)[] = [];

  constructor(private readonly options: ResilientInformerOptions<T>) {
    // The cache keeps objects without managedFields (as controller-runtime's default transform
    // does): nothing reads them from a cache, and at 10,000 objects they are most of its memory.
    const watch = new Watch(options.kubeConfig);
    const kept = options.namespaces ? new Set(options.namespaces) : undefined;
    // Watch events of other namespaces are dropped, except BOOKMARK and ERROR (no namespace).
    const wanted = (obj: unknown) => {
      const namespace = (obj as KubernetesObject | undefined)?.metadata?.namespace;
      return !kept || namespace === undefined || kept.has(namespace);
    };
    const slimWatch = {
      watch: (path: string, params: Record<string, string | number | boolean | undefined>, callback: (phase: string, obj: unknown, raw: unknown) => void, done: (err: unknown) => void) =>
        watch.watch(path, params, (phase, obj, raw) => (wanted(obj) ? callback(phase, withoutManagedFields(obj), raw) : undefined), done),
    } as Watch;
    const list: ListPromise<T> = async () => {
      const result = await options.list();
      if (kept) result.items = result.items.filter((item) => kept.has(item.metadata?.namespace ?? ""));
      for (const item of result.items) withoutManagedFields(item);
      return result;
    };
    this.informer = new ListWatch<T>(options.path, slimWatch, list, false);
    this.informer.on("add", (obj) => options.onChange(obj, "add"));
    this.informer.on("update", (obj) => options.onChange(obj, "update"));
    this.informer.on("delete", (obj) => options.onChange(obj, "delete"));
    this.informer.on("connect", () => {
      this.failures = 0;
      this.markSynced();
    });
    this.informer.on("error", (err) => this.scheduleRestart(err));
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.informer.start();
      this.markSynced();
    } catch (error) {
      this.scheduleRestart(error);
    }
    this.resyncTimer = setInterval(() => this.resync(), this.options.resyncIntervalMs);
    this.resyncTimer.unref();
  }

  /** Resolves once the first list has filled the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  /** Whether the first list has filled the cache (before that, list() may miss objects). */
  get isSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.informer.list(namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.resyncTimer);
    await this.informer.stop();
  }

  private resync(): void {
    for (const obj of this.informer.list()) this.options.onChange(obj, "resync");
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const resolve of this.syncedWaiters.splice(0)) resolve();
  }

  private scheduleRestart(error: unknown): void {
    if (this.stopped) return;
    clearTimeout(this.restartTimer);
    this.failures++;
    const max = this.options.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, 500 * 2 ** Math.min(this.failures - 1, 10)) * (0.8 + Math.random() * 0.4);
    this.options.logger.warn(
      { informer: this.options.name, error: describeError(error), attempt: this.failures, retryInMs: Math.round(delay) },
      "informer stopped; restarting",
    );
    this.restartTimer = setTimeout(() => {
      if (this.stopped) return;
      this.informer.start().catch((err: unknown) => this.scheduleRestart(err));
    }, delay);
    this.restartTimer.unref();
  }
}

/** One line for the log: API errors carry the whole response, which says little more. */
function describeError(error: unknown): string {
  const e = error as { code?: number; body?: string; message?: string } | undefined;
  if (typeof e?.code === "number" && typeof e.body === "string") {
    try {
      const status = JSON.parse(e.body) as { message?: string };
      return `HTTP ${e.code}: ${status.message ?? ""}`.trim();
    } catch {
      return `HTTP ${e.code}`;
    }
  }
  return e?.message?.split("\n")[0] ?? String(error);
}

/** Drops metadata.managedFields in place (server-side apply bookkeeping; only writers need it, and they read afresh). */
function withoutManagedFields<O>(obj: O): O {
  const metadata = (obj as { metadata?: { managedFields?: unknown } } | undefined)?.metadata;
  if (metadata && "managedFields" in metadata) delete metadata.managedFields;
  return obj;
}
