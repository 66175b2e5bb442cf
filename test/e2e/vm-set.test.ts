import { describe, expect, it } from "vitest";
import { API_GROUP_VERSION } from "../../src/api/group.js";
import { proxmoxVm } from "../support/manifests.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { DEFAULT_SEED } from "../../src/simulator/seed.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const nodes = ["pve1", "pve2", "pve3"];
const THREE_NODES = { ...DEFAULT_SEED, nodes: nodes.map((name) => ({ name, cpus: 8, memoryGiB: 64, bridges: ["vmbr0"] })) };

interface VmSet {
  metadata: { name: string; uid: string; generation: number; finalizers?: string[] };
  spec: { replicas: number };
  status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number; selector?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

function setManifest(replicas: number, memory = 1024) {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: "ProxmoxVMSet",
    metadata: { name: "web" },
    spec: {
      replicas,
      nodes,
      ipv4Pool: { start: "192.0.2.100", count: 10, prefix: 24, gateway: "192.0.2.1" },
      template: {
        metadata: { labels: { app: "web" } },
        spec: {
          connectionRef: { name: "pve" },
          // The template lives on pve1; VMs on other nodes are cloned from there.
          clone: { vmId: 9000, nodeName: "pve1" },
          memory: { dedicated: memory },
          networkDevices: [{ bridge: "vmbr0", model: "virtio" }],
          initialization: { datastoreId: "local-lvm" },
          agent: { enabled: true, timeout: "2m" },
        },
      },
    },
  };
}

// ProxmoxVMSet end to end: the set's reconciler in the operator, real tofu runs per VM, three
// simulated nodes. No garbage collector runs here (no kube-controller-manager): the set deletes
// its VMs itself.
describe.sequential("ProxmoxVMSet", () => {
  const h = useOperatorHarness({ simulator: { config: THREE_NODES } });

  async function getSet(): Promise<VmSet | undefined> {
    try {
      return JSON.parse(await h.kubectl(["get", "-n", h.namespace, "proxmoxvmset", "web", "-o", "json"])) as VmSet;
    } catch (error) {
      if (/NotFound/.test(String(error))) return undefined;
      throw error;
    }
  }

  async function vmsOfSet(): Promise<ProxmoxVMObject[]> {
    const list = JSON.parse(await h.kubectl(["get", "-n", h.namespace, "pvm", "-l", "proxmox.terraform-manager.dev/vm-set=web", "-o", "json"])) as { items: ProxmoxVMObject[] };
    return list.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  function waitForSet(what: string, check: (set: VmSet) => boolean, timeoutMs = 240_000) {
    return waitFor(what, async () => {
      const set = await getSet();
      return set && check(set) ? set : undefined;
    }, timeoutMs);
  }

  const settled = (replicas: number) => (set: VmSet) =>
    set.status?.observedGeneration === set.metadata.generation &&
    set.status.replicas === replicas &&
    set.status.readyReplicas === replicas &&
    set.status.updatedReplicas === replicas &&
    set.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

  /** Name, node, IP of each VM, from the ProxmoxVMs and checked against the simulator. */
  async function layout() {
    const vms = await vmsOfSet();
    const sim = h.simVms();
    return vms.map((vm) => {
      const onProxmox = sim.find((s) => s.vmid === vm.status?.vmId);
      return { name: vm.metadata.name, node: vm.status?.node, simNode: onProxmox?.node, ip: vm.status?.ipAddresses?.[0], ipconfig: String(onProxmox?.conf.ipconfig0).split(",").sort().join(",") };
    });
  }

  const row = (ordinal: number) => ({
    name: `web-${ordinal}`,
    node: nodes[ordinal % 3],
    simNode: nodes[ordinal % 3],
    ip: `192.0.2.${100 + ordinal}`,
    ipconfig: `gw=192.0.2.1,ip=192.0.2.${100 + ordinal}/24`,
  });

  it("starts at 0 replicas with nothing made", async () => {
    await h.apply(setManifest(0));
    const set = await waitForSet("an empty Ready set", settled(0));
    expect(set.metadata.finalizers).toContain("proxmox.terraform-manager.dev/vm-set");
    expect(set.status?.selector).toBe("proxmox.terraform-manager.dev/vm-set=web");
    expect(h.simVms()).toHaveLength(0);
  });

  it("scales 0 → 3 with kubectl scale: names by ordinal, nodes round robin, addresses from the pool", async () => {
    await h.kubectl(["scale", "-n", h.namespace, "proxmoxvmset/web", "--replicas=3"]);
    await waitForSet("3 Ready VMs", settled(3));
    expect(await layout()).toEqual([0, 1, 2].map(row));
    const vms = await vmsOfSet();
    for (const vm of vms) {
      expect(vm.metadata.labels?.app).toBe("web");
      expect(vm.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "ProxmoxVMSet", name: "web", controller: true })]);
    }
    // What kubectl scale and the HorizontalPodAutoscaler read.
    const scale = JSON.parse(await h.kubectl(["get", "-n", h.namespace, "proxmoxvmset", "web", "--subresource=scale", "-o", "json"])) as {
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    };
    expect(scale).toMatchObject({ spec: { replicas: 3 }, status: { replicas: 3, selector: "proxmox.terraform-manager.dev/vm-set=web" } });
  });

  it("scales 3 → 5", async () => {
    await h.kubectl(["scale", "-n", h.namespace, "proxmoxvmset/web", "--replicas=5"]);
    await waitForSet("5 Ready VMs", settled(5));
    expect(await layout()).toEqual([0, 1, 2, 3, 4].map(row));
    expect(h.simVms()).toHaveLength(5);
  });

  it("scales 5 → 2, removing the highest ordinal first", async () => {
    await h.kubectl(["scale", "-n", h.namespace, "proxmoxvmset/web", "--replicas=2"]);
    await waitForSet("2 Ready VMs", (set) => settled(2)(set));
    await waitFor("the surplus ProxmoxVMs to be gone", async () => ((await vmsOfSet()).length === 2 ? true : undefined));
    expect(await layout()).toEqual([0, 1].map(row));
    expect(h.simVms()).toHaveLength(2);
    const { rows } = await h.pg((c) =>
      c.query<{ name: string; started_at: Date; finished_at: Date }>(
        `select name, started_at, finished_at from ${h.dbSchema}.runs where namespace = $1 and action = 'destroy' and status = 'succeeded' order by started_at`,
        [h.namespace],
      ),
    );
    expect(rows.map((r) => r.name)).toEqual(["web-4", "web-3", "web-2"]);
    // One at a time: each destroy started after the one before had finished.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at.getTime());
  });

  it("rolls a template change one VM at a time, each Ready before the next starts", async () => {
    await h.apply(setManifest(2, 1536));
    await waitForSet("both VMs changed and Ready", settled(2));
    for (const vm of h.simVms()) expect(Number(vm.conf.memory)).toBe(1536);
    const { rows } = await h.pg((c) =>
      c.query<{ name: string; created_at: Date; finished_at: Date }>(
        `select name, created_at, finished_at from ${h.dbSchema}.runs where namespace = $1 and action = 'apply' and change_count = 1 order by created_at`,
        [h.namespace],
      ),
    );
    expect(rows.map((r) => r.name).sort()).toEqual(["web-0", "web-1"]);
    // The second VM's run was queued only after the first VM's run had finished (and it was Ready).
    expect(rows[1]!.created_at.getTime()).toBeGreaterThanOrEqual(rows[0]!.finished_at.getTime());
  });

  it("says so when a VM refuses the template's change, and changes nothing", async () => {
    const moved = setManifest(2, 1536);
    moved.spec.nodes = ["pve3", "pve1"]; // the VMs' nodeName may change only with migrate: true
    await h.apply(moved);
    const refused = await waitForSet("Ready False with UpdateRefused", (set) =>
      set.status?.observedGeneration === set.metadata.generation && set.status.conditions?.some((c) => c.type === "Ready" && c.reason === "UpdateRefused") === true,
    );
    expect(refused.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/web-0 was not changed to the current template: .*nodeName can change only with migrate/);
    expect(await layout()).toEqual([0, 1].map(row));
    await h.apply(setManifest(2, 1536));
    await waitForSet("back to settled", settled(2));
  });

  it("leaves a ProxmoxVM of the wanted name that it does not own alone, and says so", async () => {
    // suspend: the VM controller leaves it alone too, so nothing runs for it.
    await h.apply(proxmoxVm("taken-0", { suspend: true }));
    await h.apply({ ...setManifest(1), metadata: { name: "taken" } });
    const set = await waitFor("the set taken to report NameTaken", async () => {
      const got = JSON.parse(await h.kubectl(["get", "-n", h.namespace, "proxmoxvmset", "taken", "-o", "json"])) as VmSet;
      return got.status?.conditions?.find((c) => c.type === "Ready" && c.reason === "NameTaken") ? got : undefined;
    });
    expect(set.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/ProxmoxVM taken-0 exists and does not belong to this set/);
    const vm = await h.getVm("taken-0");
    expect(vm?.metadata.ownerReferences).toBeUndefined();
    expect(vm?.metadata.labels?.["proxmox.terraform-manager.dev/vm-set"]).toBeUndefined();
    await h.kubectl(["delete", "-n", h.namespace, "proxmoxvmset", "taken", "--timeout=60s"]);
    expect(await h.getVm("taken-0")).toBeDefined();
    await h.kubectl(["delete", "-n", h.namespace, "pvm", "taken-0", "--timeout=60s"]);
  });

  it("refuses a set whose VM names would be too long: at admission for the default pattern, on Ready for another", async () => {
    await expect(h.apply({ ...setManifest(1), metadata: { name: "a".repeat(62) } })).rejects.toThrow(/must fit in 63 characters/);
    const pattern = `{set}-${"a".repeat(47)}-{ordinal}`;
    const long = { ...setManifest(1), metadata: { name: "twenty-characters-ab" } };
    await h.apply({ ...long, spec: { ...long.spec, namePattern: pattern } });
    const refused = await waitFor("Ready False with CreateRefused", async () => {
      const got = JSON.parse(await h.kubectl(["get", "-n", h.namespace, "proxmoxvmset", "twenty-characters-ab", "-o", "json"])) as VmSet;
      return got.status?.conditions?.find((c) => c.type === "Ready" && c.reason === "CreateRefused");
    });
    expect(refused.message).toMatch(/was refused: .*set spec\.name/);
    await h.kubectl(["delete", "-n", h.namespace, "proxmoxvmset", "twenty-characters-ab", "--timeout=60s"]);
  });

  it("deletes its VMs when the set is deleted (no garbage collector needed)", async () => {
    await h.kubectl(["delete", "-n", h.namespace, "proxmoxvmset", "web", "--wait=false"]);
    await waitFor("the set to be gone", async () => ((await getSet()) === undefined ? true : undefined), 240_000);
    expect(await vmsOfSet()).toEqual([]);
    expect(h.simVms()).toHaveLength(0);
  });
});
