import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector, microTime } from "../../src/kube/leader-election.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { platformEnv } from "../support/platform-env.js";

/** The platform's kubeconfig, remembering each API request made through it (method and path). */
class RecordingKubeConfig extends KubeConfig {
  readonly requests: { method: string; path: string }[] = [];
  private readonly waiters: { done: () => boolean; resolve: () => void }[] = [];

  constructor() {
    super();
    this.loadFromFile(platformEnv().KUBECONFIG);
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    this.requests.push({ method: context.getHttpMethod(), path: new URL(context.getUrl()).pathname });
    for (const w of this.waiters.filter((w) => w.done())) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
    return super.applySecurityAuthentication(context);
  }

  /** Resolves once `done` holds for the requests made so far (checked at each new request). */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  leaseRequests(method: string): number {
    return this.requests.filter((r) => r.method === method && r.path.endsWith("/leases/ptm")).length;
  }

  writes(): number {
    return this.requests.filter((r) => r.method !== "GET").length;
  }
}

describe("leader election on a real Lease", () => {
  const namespace = uniqueName("lease");
  const logger = createLogger("silent");
  const electors: LeaderElector[] = [];
  const elector = (identity: string, kubeConfig: KubeConfig) => {
    const e = new LeaderElector({ kubeConfig, namespace, name: "ptm", identity, logger, leaseDurationSeconds: 2, renewIntervalMs: 300 });
    electors.push(e);
    return e;
  };

  beforeAll(() => kubectl(["create", "namespace", namespace]));
  afterAll(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    await deleteNamespace(namespace);
  });

  it("writes MicroTime with microseconds", () => {
    expect(microTime(new Date("2026-01-02T03:04:05.678Z"))).toBe("2026-01-02T03:04:05.678000Z");
  });

  it("lets one of two candidates lead, and hands over when the leader stops", async () => {
    const aApi = new RecordingKubeConfig();
    const bApi = new RecordingKubeConfig();
    const a = elector("a", aApi);
    const b = elector("b", bApi);
    await a.acquire();
    let bLeads = false;
    // b's writes at the moment it becomes leader (before its first renewal can run).
    let bWritesWhenLeading = -1;
    const bAcquired = b.acquire().then(() => {
      bLeads = true;
      bWritesWhenLeading = bApi.leaseRequests("PUT");
    });

    // a renews the Lease; b's attempts after that are refused: an attempt is over once the next
    // one reads the Lease again.
    await aApi.until(() => aApi.leaseRequests("PUT") >= 1);
    const bReadsAtRenewal = bApi.leaseRequests("GET");
    await bApi.until(() => bApi.leaseRequests("GET") >= Math.max(4, bReadsAtRenewal + 2));
    expect(bApi.writes()).toBe(0);
    expect(bLeads).toBe(false);
    expect(b.isLeader).toBe(false);
    expect(a.isLeader).toBe(true);
    const lease = JSON.parse(await kubectl(["get", "-n", namespace, "lease", "ptm", "-o", "json"])) as { spec: { holderIdentity: string; renewTime: string } };
    expect(lease.spec.holderIdentity).toBe("a");
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);

    await a.stop();
    await bAcquired;
    expect(b.isLeader).toBe(true);
    // One write took the released Lease over.
    expect(bWritesWhenLeading).toBe(1);
    const after = JSON.parse(await kubectl(["get", "-n", namespace, "lease", "ptm", "-o", "json"])) as { spec: { holderIdentity: string; leaseTransitions: number } };
    expect(after.spec.holderIdentity).toBe("b");
    expect(after.spec.leaseTransitions).toBe(1);
  });
});
