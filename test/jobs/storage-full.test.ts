import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SEED } from "../../src/simulator/seed.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

// Obviously fake: the sidecar's admin token for this test's own operator.
const ADMIN_TOKEN = "test-admin-token-not-a-secret";
const GiB = 2 ** 30;

/**
 * A full Proxmox datastore is not worth retrying: the run stops at once with Stalled and a
 * message saying what to fix, and no second run follows until someone acts. The simulator's
 * storages have a size and refuse what does not fit, in Proxmox's words (src/simulator/state.ts,
 * vm-lifecycle.ts): "tiny" (2 GiB) cannot take a full clone of the 3.5 GiB template, and
 * local-lvm (12 GiB: template 3.5 GiB + one clone) cannot grow the clone's disk to 20 GiB.
 */
describe("a Proxmox datastore without space", () => {
  const h = useOperatorHarness({
    sidecar: true,
    // A resync every 2 s: the controller looks at the stalled VMs again and again while the test watches.
    env: { PTM_SIDECAR_ADMIN_TOKEN: ADMIN_TOKEN, PTM_RESYNC_INTERVAL: "2s" },
    simulator: {
      config: {
        ...DEFAULT_SEED,
        storages: [
          ...(DEFAULT_SEED.storages ?? []),
          { id: "tiny", type: "lvmthin", content: ["images", "rootdir"], sizeGiB: 200 },
        ],
      },
    },
  });

  // Proxmox's own "full" answers are what these tests are about: the connection check sees room
  // (so preflight lets the runs through, as it would with an inventory a few minutes old), then
  // the datastores shrink. Preflight's own refusal is tested in test/e2e/first-contact.test.ts.
  beforeAll(async () => {
    await waitFor("the connection check", async () => /True/.test(await kubectl(["get", "-n", h.namespace, "pxc", "pve", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"])));
    h.sim.state().storages["local-lvm"]!.total = 12 * GiB;
    h.sim.state().storages.tiny!.total = 2 * GiB;
  });

  const vm = (name: string, datastoreId: string, diskGiB: number) =>
    proxmoxVm(name, {
      clone: { vmId: 9000, full: true, datastoreId },
      cpu: { cores: 1 },
      memory: { dedicated: 1024 },
      disks: [{ interface: "scsi0", datastoreId, size: diskGiB }],
      started: false,
    });

  const stalled = (name: string) =>
    h.waitForVm(name, (v) => v?.status?.conditions?.some((c) => c.type === "Stalled" && c.status === "True") === true, 150_000);

  function conditionsOf(v: ProxmoxVMObject | undefined) {
    return Object.fromEntries((v?.status?.conditions ?? []).map((c) => [c.type, c]));
  }

  it("stalls a clone that does not fit, says what to fix, and does not retry", async () => {
    await h.apply(vm("clone-too-big", "tiny", 4));
    const v = await stalled("clone-too-big");
    const c = conditionsOf(v);
    expect(c.Stalled).toMatchObject({ status: "True", reason: "InsufficientStorage", observedGeneration: 1 });
    expect(c.Stalled!.message).toMatch(/insufficient free space/);
    expect(c.Stalled!.message).toMatch(/datastore is full: free space on it, or point the spec at another datastore/);
    expect(c.Stalled!.message).toContain(`POST /api/v1/namespaces/${h.namespace}/vms/clone-too-big/reconcile`);
    expect(c.Ready).toMatchObject({ status: "False", reason: "InsufficientStorage" });
    expect(c.Reconciling?.status).toBe("False");
    expect(v?.status?.state).toBe("Failed");

    // A transient failure would wait in BullMQ as "delayed" for its retry: this job is gone.
    await waitFor("the failed job to leave the queue", async () => (await h.runJobState("clone-too-big")) === undefined);
    // And the controller, looking again on each resync, queues nothing new for it.
    const reconciles = await h.reconcileCount();
    await waitFor("three more reconciles", async () => (await h.reconcileCount()) >= reconciles + 3);
    expect(await h.runJobState("clone-too-big")).toBeUndefined();
    expect((await h.runsOf("clone-too-big")).map((r) => r.status)).toEqual(["failed"]);
  });

  it("stalls a disk that cannot grow, and runs again when asked once there is space", async () => {
    await h.apply(vm("disk-too-big", "local-lvm", 20));
    const v = await stalled("disk-too-big");
    const c = conditionsOf(v);
    expect(c.Stalled!.message).toMatch(/no space left on storage 'local-lvm'/);
    expect(c.Stalled!.message).toMatch(/datastore is full/);
    expect((await h.runsOf("disk-too-big")).map((r) => r.status)).toEqual(["failed"]);

    // Someone makes room on Proxmox (no spec change), then asks for a run as the message says.
    h.sim.state().storages["local-lvm"]!.total = 100 * GiB;
    const res = await fetch(`${h.sidecarUrl}/api/v1/namespaces/${h.namespace}/vms/disk-too-big/reconcile`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(202);
    const ready = await h.waitForReady("disk-too-big", 1, 150_000);
    expect(conditionsOf(ready).Stalled?.status).toBe("False");
    const simVm = h.simVms().find((s) => s.vmid === ready?.status?.vmId);
    // The same VM (a failed resize leaves it tainted in state: it is adopted in place, never
    // replaced), and its disk volume grew to 20 GiB.
    expect(ready?.status?.vmId).toBe(v?.status?.vmId);
    const volume = String(simVm?.conf.scsi0).split(",")[0]!.split(":")[1]!;
    expect(h.sim.state().storages["local-lvm"]!.volumes[volume]?.size).toBe(20 * GiB);
  });
});
