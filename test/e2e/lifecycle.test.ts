import { describe, expect, it } from "vitest";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { useOperatorHarness } from "../support/suite-hooks.js";

const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0 ops@example";

function vmManifest(name: string, spec: Record<string, unknown> = {}) {
  return proxmoxVm(name, {
    cpu: { cores: 2 },
    memory: { dedicated: 2048 },
    disks: [
      { interface: "scsi0", datastoreId: "local-lvm", size: 20 },
      { interface: "scsi1", datastoreId: "local-lvm", size: 10 },
    ],
    networkDevices: [{ bridge: "vmbr0", model: "virtio", vlanId: 10 }],
    initialization: {
      datastoreId: "local-lvm",
      userAccount: { username: "ops", keys: [SSH_KEY] },
      ipConfigs: [{ ipv4: { address: "192.0.2.10/24", gateway: "192.0.2.1" } }],
      dns: { servers: ["192.0.2.53"], domain: "lab.example" },
    },
    agent: { enabled: true, timeout: "2m" },
    started: true,
    ...spec,
  });
}

// One scenario, in order: the steps on "web" each start from the VM the step before left; the
// other steps use VMs of their own.
describe.sequential("ProxmoxVM lifecycle, end to end", () => {
  const h = useOperatorHarness();

  it("creates the VM as written and reports it Ready with its id and IP", async () => {
    await h.apply(vmManifest("web"));
    const vm = await h.waitForReady("web", 1);
    expect(vm?.status?.vmId).toBeGreaterThanOrEqual(100);
    expect(vm?.status?.ipAddresses).toContain("192.0.2.10");
    expect(vm?.status?.state).toBe("Running");
    expect(vm?.metadata.finalizers).toContain("proxmox.terraform-manager.dev/finalizer");

    const [simVm, ...others] = h.simVms();
    expect(others).toHaveLength(0);
    expect(simVm!.vmid).toBe(vm!.status!.vmId);
    expect(simVm!.status).toBe("running");
    const conf = simVm!.conf as Record<string, string | number>;
    expect(Number(conf.cores)).toBe(2);
    expect(Number(conf.memory)).toBe(2048);
    expect(String(conf.scsi0)).toMatch(/size=20G/);
    expect(String(conf.scsi1)).toMatch(/^local-lvm:.*size=10G/);
    expect(String(conf.net0)).toMatch(/virtio=[0-9A-F:]{17},bridge=vmbr0.*tag=10/);
    expect(String(conf.ipconfig0).split(",").sort()).toEqual(["gw=192.0.2.1", "ip=192.0.2.10/24"]);
    expect(conf.ciuser).toBe("ops");
    expect(decodeURIComponent(String(conf.sshkeys)).trim()).toBe(SSH_KEY);
    expect(conf.nameserver).toBe("192.0.2.53");
    expect(conf.searchdomain).toBe("lab.example");
    expect(String(conf.agent)).toMatch(/^(1|enabled=1)/);
    expect(conf.name).toBe("web");

    const table = await kubectl(["get", "-n", h.namespace, "pvm", "web"]);
    const [header, row] = table.trim().split("\n");
    expect(header!.split(/\s+/)).toEqual(["NAME", "NODE", "VMID", "STATE", "IP", "READY", "AGE"]);
    expect(row!.split(/\s+/).slice(0, 6)).toEqual(["web", "pve1", String(vm!.status!.vmId), "Running", "192.0.2.10", "True"]);
  });

  it("updates memory and cores in place, keeping the VM id", async () => {
    const before = await h.getVm("web");
    await h.apply(vmManifest("web", { cpu: { cores: 4 }, memory: { dedicated: 4096 } }));
    const after = await h.waitForReady("web", 2);
    expect(after?.status?.vmId).toBe(before?.status?.vmId);
    const simVm = h.simVms();
    expect(simVm).toHaveLength(1);
    expect(Number(simVm[0]!.conf.cores)).toBe(4);
    expect(Number(simVm[0]!.conf.memory)).toBe(4096);
    const runs = await h.runsOf("web");
    expect(runs.at(-1)).toMatchObject({ action: "apply", status: "succeeded", add_count: 0, change_count: 1 });
  });

  it("starts no Terraform run for a generation that synthesizes to the same stack", async () => {
    const runsBefore = (await h.runsOf("web")).length;
    const lastRunBefore = (await h.getVm("web"))?.status?.lastRun?.id;
    await h.apply(vmManifest("web", { cpu: { cores: 4 }, memory: { dedicated: 4096 }, driftDetection: { interval: "2h" } }));
    // The status describes generation 3 only once the controller has decided about it: had it
    // queued a run, that run would be recorded (and would have written this generation) by now.
    const observed = await h.waitForReady("web", 3);
    expect(observed?.status?.lastRun?.id).toBe(lastRunBefore);
    expect(observed?.status?.conditions?.find((c) => c.type === "Reconciling")?.status).not.toBe("True");
    expect(await h.runJobState("web")).toBeUndefined();
    expect((await h.runsOf("web")).length).toBe(runsBefore);
  });

  it("refuses an invalid manifest at admission, naming the field", async () => {
    await expect(h.apply(vmManifest("bad", { cpu: { cores: 0 } }))).rejects.toThrow(/spec\.cpu\.cores/);
    await expect(h.apply(vmManifest("bad", { clone: undefined }))).rejects.toThrow(/spec\.clone/);
    expect(await h.getVm("bad")).toBeUndefined();
  });

  it("refuses to change vmId once set", async () => {
    const vm = await h.getVm("web");
    const vmId = vm!.status!.vmId!;
    // Writing down the id the VM already has is allowed (and changes nothing on Proxmox)...
    await kubectl(["patch", "-n", h.namespace, "pvm", "web", "--type=merge", "-p", JSON.stringify({ spec: { vmId } })]);
    // ...changing it afterwards is not.
    await expect(kubectl(["patch", "-n", h.namespace, "pvm", "web", "--type=merge", "-p", JSON.stringify({ spec: { vmId: vmId + 1 } })])).rejects.toThrow(
      /vmId cannot change once set/,
    );
    await h.waitForReady("web", 4);
  });

  it("destroys the VM and removes the resource on delete", async () => {
    const vm = await h.getVm("web");
    await kubectl(["delete", "-n", h.namespace, "pvm", "web", "--wait=false"]);
    await h.waitForVm("web", (v) => v === undefined);
    expect(h.simVms().find((v) => v.vmid === vm?.status?.vmId)).toBeUndefined();
    const runs = await h.runsOf("web");
    expect(runs.at(-1)).toMatchObject({ action: "destroy", status: "succeeded" });
  });

  it("keeps the VM when deletionPolicy is Orphan", async () => {
    await h.apply(vmManifest("kept", { deletionPolicy: "Orphan", initialization: undefined, disks: undefined }));
    const vm = await h.waitForReady("kept");
    await kubectl(["delete", "-n", h.namespace, "pvm", "kept", "--wait=false"]);
    await h.waitForVm("kept", (v) => v === undefined);
    expect(h.simVms().map((v) => v.vmid)).toContain(vm?.status?.vmId);
  });

  it("reports a missing connection and heals when it appears", async () => {
    await h.apply(vmManifest("later", { connectionRef: { name: "pve-later" }, initialization: undefined, disks: undefined }));
    const waiting = await h.waitForVm("later", (v) => v?.status?.conditions?.some((c) => c.type === "Ready" && c.reason === "ConnectionNotFound") === true);
    expect(waiting?.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/ProxmoxConnection .*pve-later not found/);
    await h.createConnection("pve-later");
    const healed = await h.waitForReady("later");
    expect(healed?.status?.vmId).toBeGreaterThanOrEqual(100);
  });

  it("deletes a VM that was never created at once", async () => {
    await h.apply(vmManifest("never", { connectionRef: { name: "nowhere" } }));
    await h.waitForVm("never", (v) => v?.status?.conditions?.some((c) => c.reason === "ConnectionNotFound") === true);
    await kubectl(["delete", "-n", h.namespace, "pvm", "never", "--wait=false"]);
    await h.waitForVm("never", (v) => v === undefined, 30_000);
  });
});
