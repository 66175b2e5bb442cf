/**
 * Orphans (issue 12): a VM whose ownership tag names a ProxmoxVM that no longer exists is listed
 * on its connection's status, counted in a metric and announced by an Event, and left alone.
 */
import { describe, expect, it } from "vitest";
import type { ProxmoxConnectionObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

describe("orphaned VMs", () => {
  const h = useOperatorHarness({ env: { PTM_CONNECTION_CHECK_INTERVAL: "2s" } });

  const connection = async () => JSON.parse(await kubectl(["get", "-n", h.namespace, "pxc", "pve", "-o", "json"])) as ProxmoxConnectionObject;

  it("lists a VM kept by deletionPolicy Orphan once its resource is gone, and never touches it", async () => {
    await h.apply(proxmoxVm("kept", { memory: { dedicated: 1024 }, started: false, deletionPolicy: "Orphan" }));
    await h.apply(proxmoxVm("live", { memory: { dedicated: 1024 }, started: false }));
    const kept = await h.waitForReady("kept", 1);
    await h.waitForReady("live", 1);
    const vmId = kept!.status!.vmId!;
    const uid = kept!.metadata.uid;
    // While both resources exist nothing is orphaned.
    const clean = await waitFor("a connection check that saw both VMs", async () => {
      const c = await connection();
      return c.status?.orphanedVmCount === 0 && Date.parse(c.status.lastCheckTime ?? "") > Date.parse(kept!.status!.lastRun!.finishedAt!) ? c : undefined;
    });
    expect(clean.status?.orphanedVms).toBeUndefined();

    await kubectl(["delete", "-n", h.namespace, "pvm", "kept", "--wait=true", "--timeout=120s"]);
    const before = JSON.stringify(h.sim.state().vms[vmId]!.conf);
    const orphaned = await waitFor("the connection to list the orphan", async () => {
      const c = await connection();
      return c.status?.orphanedVmCount === 1 ? c : undefined;
    });
    expect(orphaned.status?.orphanedVms).toEqual([{ vmid: vmId, node: "pve1", name: "kept", ownerUid: uid }]);
    const events = await kubectl(["get", "events", "-n", h.namespace, "--field-selector", "involvedObject.kind=ProxmoxConnection,reason=OrphanedVMs", "-o", "jsonpath={.items[*].message}"]);
    expect(events).toContain(`${vmId} (kept) on pve1`);
    const metric = await h.app!.metrics.registry.getSingleMetric("ptm_orphaned_vms")!.get();
    expect(metric.values).toEqual([{ labels: { namespace: h.namespace, connection: "pve" }, value: 1 }]);
    // Left exactly as it was.
    expect(JSON.stringify(h.sim.state().vms[vmId]!.conf)).toBe(before);
  }, 300_000);
});
