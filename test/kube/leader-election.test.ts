import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector, microTime } from "../../src/kube/leader-election.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "../support/kube.js";

describe("leader election on a real Lease", () => {
  const namespace = uniqueName("lease");
  const logger = createLogger("silent");
  const electors: LeaderElector[] = [];
  const elector = (identity: string) => {
    const e = new LeaderElector({ kubeConfig: platformKubeConfig(), namespace, name: "ptm", identity, logger, leaseDurationSeconds: 2, renewIntervalMs: 300 });
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
    const a = elector("a");
    const b = elector("b");
    await a.acquire();
    let bLeads = false;
    void b.acquire().then(() => (bLeads = true));
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.isLeader).toBe(true);
    expect(bLeads).toBe(false);
    const lease = JSON.parse(await kubectl(["get", "-n", namespace, "lease", "ptm", "-o", "json"])) as { spec: { holderIdentity: string; renewTime: string } };
    expect(lease.spec.holderIdentity).toBe("a");
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);

    await a.stop();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => bLeads && (clearInterval(t), resolve()), 100);
    });
    expect(b.isLeader).toBe(true);
    const after = JSON.parse(await kubectl(["get", "-n", namespace, "lease", "ptm", "-o", "json"])) as { spec: { holderIdentity: string; leaseTransitions: number } };
    expect(after.spec.holderIdentity).toBe("b");
    expect(after.spec.leaseTransitions).toBe(1);
  });
});
