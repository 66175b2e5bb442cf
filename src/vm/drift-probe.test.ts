import { describe, expect, it } from "vitest";
import type { ProxmoxApiClient, VmResource } from "../proxmox/api-client.js";
import type { VmConfigSummary } from "../proxmox/vm-config-summary.js";
import type { ResolvedConnection } from "./connection-resolver.js";
import { DigestDriftProbe } from "./drift-probe.js";
import type { ObservedConfig } from "./observed-config.js";

/** A Proxmox that counts its calls; configs by vmid. */
class FakeProxmox {
  resources: VmResource[] = [];
  digests = new Map<number, string>();
  listCalls = 0;
  configCalls = 0;
  configsInFlight = 0;
  maxConfigsInFlight = 0;
  failList = false;

  async vmResources(): Promise<VmResource[]> {
    this.listCalls++;
    if (this.failList) throw new Error("GET /cluster/resources: 500 Internal Server Error");
    return this.resources.map((r) => ({ ...r }));
  }

  async vmConfig(_node: string, vmId: number): Promise<VmConfigSummary | undefined> {
    this.configCalls++;
    this.configsInFlight++;
    this.maxConfigsInFlight = Math.max(this.maxConfigsInFlight, this.configsInFlight);
    await new Promise((r) => setImmediate(r));
    this.configsInFlight--;
    const digest = this.digests.get(vmId);
    return digest === undefined ? undefined : { tags: [], disks: [], digest };
  }
}

const connection = (token = "root@pam!ptm=secret"): ResolvedConnection => ({ name: "pve", uid: "u", generation: 1, apiToken: token, spec: { endpoint: "https://pve.example:8006", tokenSecretRef: { name: "t", key: "token" } } as ResolvedConnection["spec"] });

function setup(vms = 3) {
  const proxmox = new FakeProxmox();
  for (let i = 0; i < vms; i++) {
    proxmox.resources.push({ vmId: 100 + i, node: "pve1", status: "running", template: false });
    proxmox.digests.set(100 + i, `digest-${i}`);
  }
  let now = 1_000_000;
  const probe = new DigestDriftProbe({ clientOf: () => proxmox as unknown as ProxmoxApiClient, now: () => now, configReadsAtOnce: 2 });
  const observed = (i: number, extra: Partial<ObservedConfig> = {}): ObservedConfig => ({ configDigest: `digest-${i}`, node: "pve1", powerState: "running", recordedAt: new Date(0).toISOString(), ...extra });
  return { proxmox, probe, observed, advance: (ms: number) => (now += ms) };
}

describe("DigestDriftProbe", () => {
  it("finds an unchanged VM unchanged, and one resource list answers every VM of the connection", async () => {
    const { proxmox, probe, observed } = setup(3);
    const verdicts = await Promise.all([0, 1, 2].map((i) => probe.check(connection(), 100 + i, observed(i))));
    expect(verdicts).toEqual([{ kind: "unchanged" }, { kind: "unchanged" }, { kind: "unchanged" }]);
    expect(proxmox.listCalls).toBe(1);
    expect(proxmox.configCalls).toBe(3);
  });

  it("names what changed: the digest, the node, the power state, a VM gone", async () => {
    const { proxmox, probe, observed } = setup(4);
    proxmox.digests.set(100, "digest-after-qm-set");
    proxmox.resources[1]!.node = "pve2";
    proxmox.resources[2]!.status = "stopped";
    proxmox.resources.splice(3, 1);
    expect(await probe.check(connection(), 100, observed(0))).toEqual({ kind: "changed", what: "VM 100's config changed on Proxmox" });
    expect(await probe.check(connection(), 101, observed(1))).toEqual({ kind: "changed", what: "VM 101 moved from pve1 to pve2" });
    expect(await probe.check(connection(), 102, observed(2))).toEqual({ kind: "changed", what: "VM 102 is stopped, was running" });
    expect(await probe.check(connection(), 103, observed(3))).toMatchObject({ kind: "changed" });
  });

  it("says unknown when Proxmox does not answer or the VM's node is offline, and asks again next time", async () => {
    const { proxmox, probe, observed } = setup(2);
    proxmox.failList = true;
    expect(await probe.check(connection(), 100, observed(0))).toMatchObject({ kind: "unknown", why: expect.stringContaining("500") });
    proxmox.failList = false;
    proxmox.resources[1]!.status = "unknown";
    expect(await probe.check(connection(), 101, observed(1))).toMatchObject({ kind: "unknown" });
    expect(proxmox.listCalls).toBe(2);
  });

  it("refreshes the list when it is older than its max age or than the record it is compared with", async () => {
    const { proxmox, probe, observed, advance } = setup(1);
    await probe.check(connection(), 100, observed(0));
    advance(10_000);
    await probe.check(connection(), 100, observed(0));
    expect(proxmox.listCalls).toBe(1);
    // A run recorded the VM after the list was fetched: the list may predate what the run did.
    const recordedLater = new Date(1_000_000 + 20_000).toISOString();
    advance(15_000);
    await probe.check(connection(), 100, observed(0, { recordedAt: recordedLater }));
    expect(proxmox.listCalls).toBe(2);
    advance(31_000);
    await probe.check(connection(), 100, observed(0));
    expect(proxmox.listCalls).toBe(3);
  });

  it("reads at most configReadsAtOnce configs at once per connection", async () => {
    const { proxmox, probe, observed } = setup(10);
    await Promise.all(Array.from({ length: 10 }, (_, i) => probe.check(connection(), 100 + i, observed(i))));
    expect(proxmox.configCalls).toBe(10);
    expect(proxmox.maxConfigsInFlight).toBe(2);
  });

  it("keeps another token's look apart (it may audit other VMs)", async () => {
    const { proxmox, probe, observed } = setup(1);
    await probe.check(connection("a@pve!t=1"), 100, observed(0));
    await probe.check(connection("a@pve!t=2"), 100, observed(0));
    expect(proxmox.listCalls).toBe(2);
  });
});
