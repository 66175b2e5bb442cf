import { describe, expect, it } from "vitest";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

interface KubeObject {
  metadata: { resourceVersion: string; ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[] };
  data?: Record<string, string>;
}

function vm(name: string, address: string, spec: Record<string, unknown>) {
  return proxmoxVm(name, {
    networkDevices: [{ bridge: "vmbr0", model: "virtio" }],
    initialization: { datastoreId: "local-lvm", ipConfigs: [{ ipv4: { address, gateway: "192.0.2.1" } }] },
    agent: { enabled: true, timeout: "2m" },
    ...spec,
  });
}

// spec.writeOutputsTo, end to end: real tofu outputs into real ConfigMaps and Secrets.
describe.sequential("outputs for other apps (spec.writeOutputsTo)", () => {
  const h = useOperatorHarness();

  async function read(kind: "configmap" | "secret", name: string): Promise<KubeObject | undefined> {
    try {
      return JSON.parse(await h.kubectl(["get", "-n", h.namespace, kind, name, "-o", "json"])) as KubeObject;
    } catch (error) {
      if (/NotFound/.test(String(error))) return undefined;
      throw error;
    }
  }

  function simMac(vmId: number): string {
    const net0 = String(h.simVms().find((v) => v.vmid === vmId)!.conf.net0);
    return /virtio=([0-9A-F:]{17})/.exec(net0)![1]!;
  }

  it("writes id, node, name and addresses into a ConfigMap owned by the VM, and follows an IP change", async () => {
    await h.apply(vm("app", "192.0.2.20/24", { writeOutputsTo: { configMapName: "app-outputs" } }));
    const ready = await h.waitForReady("app", 1);
    const vmId = ready!.status!.vmId!;
    const first = await waitFor("the outputs ConfigMap", () => read("configmap", "app-outputs"));
    expect(first.data).toEqual({
      vm_id: String(vmId),
      node: "pve1",
      name: "app",
      ipv4_addresses: "192.0.2.20",
      // The simulator's guest reports only a link-local IPv6 address, which is left out.
      ipv6_addresses: "",
      mac_addresses: simMac(vmId),
    });
    expect(first.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "ProxmoxVM", name: "app", uid: ready!.metadata.uid, controller: true })]);

    // A new address reaches the outputs with the first run that reads it from the guest agent:
    // the apply that changes ipconfig0 reports what the agent said during that apply, the next
    // run's refresh the address the guest then has.
    const outputsTo = { writeOutputsTo: { configMapName: "app-outputs" } };
    await h.apply(vm("app", "192.0.2.21/24", outputsTo));
    await h.waitForReady("app", 2);
    await h.apply(vm("app", "192.0.2.21/24", { ...outputsTo, memory: { dedicated: 1024 } }));
    await h.waitForReady("app", 3);
    const moved = await waitFor("the new address in the ConfigMap", async () => {
      const cm = await read("configmap", "app-outputs");
      return cm?.data?.ipv4_addresses === "192.0.2.21" ? cm : undefined;
    });
    expect(moved.data?.vm_id).toBe(String(vmId));
    expect(moved.metadata.ownerReferences?.[0]?.uid).toBe(ready!.metadata.uid);

    // A run that changes none of the outputs leaves the ConfigMap as it is (no write at all).
    await h.apply(vm("app", "192.0.2.21/24", { ...outputsTo, memory: { dedicated: 1024 }, cpu: { cores: 3 } }));
    await h.waitForReady("app", 4);
    expect((await h.runsOf("app")).at(-1)).toMatchObject({ action: "apply", status: "succeeded", change_count: 1 });
    expect((await read("configmap", "app-outputs"))?.metadata.resourceVersion).toBe(moved.metadata.resourceVersion);
  });

  it("writes only the chosen keys into a Secret", async () => {
    await h.apply(vm("db", "192.0.2.30/24", { writeOutputsTo: { secretName: "db-outputs", keys: ["vm_id", "ipv4_addresses"] } }));
    const ready = await h.waitForReady("db", 1);
    const secret = await waitFor("the outputs Secret", () => read("secret", "db-outputs"));
    const decoded = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    expect(decoded).toEqual({ vm_id: String(ready!.status!.vmId), ipv4_addresses: "192.0.2.30" });
    expect(secret.metadata.ownerReferences?.[0]?.uid).toBe(ready!.metadata.uid);
  });

  it("never overwrites a ConfigMap it does not own, and says so in an Event", async () => {
    await h.kubectl(["create", "configmap", "-n", h.namespace, "taken", "--from-literal=owner=someone-else"]);
    await h.apply(vm("clash", "192.0.2.40/24", { writeOutputsTo: { configMapName: "taken" } }));
    await h.waitForReady("clash", 1);
    const event = await waitFor("an OutputsNameTaken event", async () => {
      const list = JSON.parse(await h.kubectl(["get", "events", "-n", h.namespace, "--field-selector", "involvedObject.name=clash,reason=OutputsNameTaken", "-o", "json"])) as {
        items: { message: string }[];
      };
      return list.items[0];
    });
    expect(event.message).toMatch(/ConfigMap taken exists and is not owned by this ProxmoxVM/);
    expect((await read("configmap", "taken"))?.data).toEqual({ owner: "someone-else" });
  });

  it("refuses a writeOutputsTo with both or neither target at admission", async () => {
    await expect(h.apply(vm("both", "192.0.2.50/24", { writeOutputsTo: { configMapName: "a", secretName: "b" } }))).rejects.toThrow(/exactly one of configMapName and secretName/);
    await expect(h.apply(vm("neither", "192.0.2.50/24", { writeOutputsTo: { keys: ["vm_id"] } }))).rejects.toThrow(/exactly one of configMapName and secretName/);
  });
});
