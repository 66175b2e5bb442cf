import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import type { ProxmoxConnectionObject } from "../../src/kube/types.js";
import { simulatorCertificate } from "../../src/simulator/cert.js";
import { DEFAULT_SEED } from "../../src/simulator/seed.js";
import { kubectl } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { yamlOf } from "../support/operator-harness.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { applyAndExpect as applyAndExpectIn, condition, CONSENT, getConnection as connectionIn, ShownTimes, simCall, waitForConnection as waitForConnectionIn } from "./first-contact-support.js";

const run = promisify(execFile);

/** Seconds from applying a manifest to its status saying what is wrong: printed, not asserted. */
const shown = new ShownTimes();

/**
 * The first things a new user meets when pointing the operator at their own Proxmox: each says
 * at once what is wrong and what to do, creates nothing on Proxmox, and heals by itself once the
 * cause is fixed. Real apiserver, tofu, provider and simulator.
 */
describe("first contact with a Proxmox", () => {
  const h = useOperatorHarness({
    simulator: {
      config: {
        ...DEFAULT_SEED,
        // A plain VM (not a template) that a manifest may name as its clone source or its vmId.
        vms: [{ vmid: 150, node: "pve1", status: "stopped", config: { name: "plain-vm", memory: "1024", scsi0: "local-lvm:vm-150-disk-0,size=8G", net0: "virtio=BC:24:11:15:00:00,bridge=vmbr0" } }],
      },
    },
  });

  afterAll(() => shown.print("first contact"));

  /** Proxmox VMs named like this manifest (the VM name is metadata.name): 0 means nothing was created. */
  const madeFor = (name: string) => h.simVms().filter((vm) => vm.conf.name === name).length;

  const getConnection = (name: string) => connectionIn(h, name);
  const waitForConnection = (name: string, predicate: (c: ProxmoxConnectionObject) => boolean, timeoutMs?: number) => waitForConnectionIn(h, name, predicate, timeoutMs);

  async function secret(name: string, data: Record<string, string>): Promise<void> {
    await kubectl(["apply", "-n", h.namespace, "-f", "-"], yamlOf({ apiVersion: "v1", kind: "Secret", metadata: { name, labels: CONSENT }, stringData: data }));
  }

  async function connection(name: string, spec: Record<string, unknown>): Promise<void> {
    await h.apply({
      apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
      kind: "ProxmoxConnection",
      metadata: { name },
      spec: { endpoint: h.sim.url, tokenSecretRef: { name: `${name}-token`, key: "token" }, insecureSkipTLSVerify: true, ...spec },
    });
  }

  const applyAndExpect = (label: string, name: string, spec: Record<string, unknown>, type: "Ready" | "Stalled", reason: string) =>
    applyAndExpectIn(h, shown, { label, name, spec, type, reason });

  it("a healthy connection reports its version, inventory and Ready", async () => {
    const pve = await waitForConnection("pve", (c) => condition(c, "Ready")?.status === "True");
    expect(condition(pve, "Ready")).toMatchObject({ reason: "Connected", observedGeneration: pve.metadata.generation });
    expect(pve.status?.version).toBe("9.2.11");
    expect(pve.status?.tokenId).toBe(h.sim.tokenId);
    expect(pve.status?.nodeCount).toBe(1);
    expect(pve.status?.inventory?.templates).toEqual([{ vmid: 9000, name: "ubuntu-24.04-cloud", node: "pve1" }]);
    expect(pve.status?.inventory?.bridges).toEqual([{ node: "pve1", name: "vmbr0" }]);
    expect(pve.status?.inventory?.storages.map((s) => s.id)).toEqual(["local", "local-lvm"]);
    // The token's secret is nowhere in the status.
    expect(JSON.stringify(pve.status)).not.toContain(h.sim.token.split("=")[1]);
    const columns = await kubectl(["get", "-n", h.namespace, "pxc", "pve"]);
    expect(columns.split("\n")[0]).toMatch(/NAME\s+ENDPOINT\s+VERSION\s+NODES\s+READY\s+AGE/);
    expect(columns).toMatch(/pve\s+https:\/\/127\.0\.0\.1:\d+\/\s+9\.2\.11\s+1\s+True/);
  });

  it("a wrong token: the connection says AuthenticationFailed, the VM waits on it, and both heal when the Secret is fixed", async () => {
    await secret("wrong-token", { token: `PVEAPIToken=${h.sim.tokenId}=00000000-0000-0000-0000-000000000000` });
    await connection("wrong", {});
    const pxc = await waitForConnection("wrong", (c) => condition(c, "Ready")?.reason === "AuthenticationFailed");
    expect(condition(pxc, "Ready")?.message).toContain("check the token id and secret");
    const vm = await applyAndExpect("wrong token", "on-wrong", { connectionRef: { name: "wrong" } }, "Ready", "ConnectionNotReady");
    expect(condition(vm, "Ready")?.message).toContain("ProxmoxConnection wrong is not ready (AuthenticationFailed)");
    expect(vm.status?.vmId).toBeUndefined();
    expect(await h.runsOf("on-wrong")).toEqual([]);
    expect(madeFor("on-wrong")).toBe(0);

    await secret("wrong-token", { token: `PVEAPIToken=${h.sim.token}` });
    const ready = await h.waitForReady("on-wrong", 1, 90_000);
    expect(ready?.status?.vmId).toBeGreaterThanOrEqual(100);
    expect(condition(await getConnection("wrong"), "Ready")?.reason).toBe("Connected");
  });

  it("an endpoint where nothing listens is Unreachable, naming the endpoint", async () => {
    const port = await closedPort();
    await secret("nowhere-token", { token: `PVEAPIToken=${h.sim.token}` });
    await connection("nowhere", { endpoint: `https://127.0.0.1:${port}/` });
    const pxc = await waitForConnection("nowhere", (c) => condition(c, "Ready")?.reason === "Unreachable");
    expect(condition(pxc, "Ready")?.message).toContain(`cannot reach https://127.0.0.1:${port}/ (ECONNREFUSED)`);
    await applyAndExpect("nothing listens", "on-nowhere", { connectionRef: { name: "nowhere" } }, "Ready", "ConnectionNotReady");
    expect(madeFor("on-nowhere")).toBe(0);
  });

  it("a CA bundle that does not sign the endpoint is a TLSError, and the right CA heals it", async () => {
    const { stdout: otherCa } = await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=some-other-ca", "-days", "1", "-keyout", "/dev/null"]);
    await secret("tls-token", { token: `PVEAPIToken=${h.sim.token}`, ca: otherCa });
    await connection("tls", { insecureSkipTLSVerify: false, caBundleSecretRef: { name: "tls-token", key: "ca" } });
    const pxc = await waitForConnection("tls", (c) => condition(c, "Ready")?.reason === "TLSError");
    expect(condition(pxc, "Ready")?.message).toMatch(/TLS to https:\/\/127\.0\.0\.1:\d+\/ failed: .*; set caBundleSecretRef to the CA that signs/);
    await applyAndExpect("CA does not sign", "on-tls", { connectionRef: { name: "tls" } }, "Ready", "ConnectionNotReady");
    expect(madeFor("on-tls")).toBe(0);

    // The simulator's certificate is self-signed: as the bundle it is the CA that signs it.
    await secret("tls-token", { token: `PVEAPIToken=${h.sim.token}`, ca: simulatorCertificate().cert });
    await waitForConnection("tls", (c) => condition(c, "Ready")?.status === "True", 90_000);
    await h.waitForReady("on-tls", 1, 90_000);
  });

  it("an unknown node is Stalled, listing the nodes", async () => {
    const vm = await applyAndExpect("unknown node", "bad-node", { nodeName: "pve9" }, "Stalled", "NodeNotFound");
    expect(condition(vm, "Stalled")?.message).toBe("spec.nodeName pve9: no such node in the cluster; nodes: pve1");
    expect(condition(vm, "Ready")?.reason).toBe("NodeNotFound");
    expect(vm.status?.vmId).toBeUndefined();
  });

  it("a missing template is Stalled, listing the templates, and goes Ready once the template exists", async () => {
    const vm = await applyAndExpect("missing template", "no-template", { clone: { vmId: 9100 } }, "Stalled", "CloneSourceNotFound");
    expect(condition(vm, "Stalled")?.message).toBe("spec.clone.vmId 9100: no template with this id; templates: 9000 ubuntu-24.04-cloud (pve1)");
    expect(await h.runsOf("no-template")).toEqual([]);
    expect(madeFor("no-template")).toBe(0);

    // A person makes the template (clone 9000 → 9100, convert), as they would on Proxmox.
    await proxmoxCall("POST", "/nodes/pve1/qemu/9000/clone", { newid: "9100", name: "ubuntu-next", full: "1" });
    await h.sim.idle();
    await proxmoxCall("POST", "/nodes/pve1/qemu/9100/template", {});
    await h.sim.idle();
    const ready = await h.waitForReady("no-template", 1, 120_000);
    expect(ready?.status?.vmId).toBeGreaterThanOrEqual(100);
  });

  it("a clone source that is a plain VM says so and what that means", async () => {
    const vm = await applyAndExpect("clone source is a VM", "from-vm", { clone: { vmId: 150 } }, "Stalled", "CloneSourceNotFound");
    expect(condition(vm, "Stalled")?.message).toContain("spec.clone.vmId 150: plain-vm on pve1 is a VM, not a template");
  });

  it("a missing datastore is Stalled, listing the datastores that hold disk images", async () => {
    const vm = await applyAndExpect("missing datastore", "bad-store", { disks: [{ interface: "scsi0", datastoreId: "nvme", size: 10 }] }, "Stalled", "StorageNotFound");
    expect(condition(vm, "Stalled")?.message).toBe("spec.disks[0].datastoreId nvme: no such datastore on pve1; datastores for disks on pve1: local-lvm");
  });

  it("a missing bridge is Stalled before anything is created, and a fixed spec goes Ready", async () => {
    const vm = await applyAndExpect("missing bridge", "bad-bridge", { networkDevices: [{ bridge: "vmbr9" }] }, "Stalled", "BridgeNotFound");
    expect(condition(vm, "Stalled")?.message).toBe("spec.networkDevices[0].bridge vmbr9: no such bridge on pve1; bridges: vmbr0");
    expect(madeFor("bad-bridge")).toBe(0);
    await h.apply(proxmoxVm("bad-bridge", { started: false, networkDevices: [{ bridge: "vmbr0" }] }));
    await h.waitForReady("bad-bridge", 2, 120_000);
  });

  it("a disk larger than the free space is Stalled with what to do", async () => {
    const vm = await applyAndExpect("disk larger than free space", "too-big", { disks: [{ interface: "scsi0", datastoreId: "local-lvm", size: 4096 }] }, "Stalled", "InsufficientStorage");
    expect(condition(vm, "Stalled")?.message).toMatch(/^spec\.disks\[0\]\.datastoreId local-lvm: the new disks need 4096 GiB but local-lvm on pve1 has \d+ GiB free/);
  });

  it("a taken spec.vmId is refused, naming the VM that has it", async () => {
    const vm = await applyAndExpect("taken vmId", "taken-id", { vmId: 150 }, "Stalled", "InvalidSpec");
    expect(condition(vm, "Stalled")?.message).toBe("spec.vmId 150: a VM with this id already exists on pve1 (plain-vm); choose a free id or leave vmId unset");
    expect(h.sim.state().vms[150]?.conf.name).toBe("plain-vm");
  });

  /** A Proxmox API call as a person would make it (form-encoded, with the simulator's token). */
  const proxmoxCall = (method: string, path: string, params: Record<string, string>) => simCall(h, method, path, params);
});

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
