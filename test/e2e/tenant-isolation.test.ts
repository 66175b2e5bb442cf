import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_GROUP_VERSION, PROXMOX_CONNECTION } from "../../src/api/group.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { CONSENT_LABEL } from "../../src/vm/secret-consent.js";
import { kubectl, platformKubeConfig } from "../support/kube.js";
import { proxmoxVm } from "../support/manifests.js";
import { yamlOf } from "../support/operator-harness.js";
import { platformEnv } from "../support/platform-env.js";
import { useOperatorHarness } from "../support/suite-hooks.js";

const execFileAsync = promisify(execFile);

/**
 * A tenant who may create ProxmoxVMs and ProxmoxConnections in its namespace, but not read
 * Secrets, tries to borrow the operator's reach: its connection names a Secret it cannot read
 * and points at a server it controls. The API server and the tenant's ServiceAccount token are
 * real; the "server it controls" is a loopback relay that counts every connection it gets and
 * forwards to the simulator, so once the Secret's owner consents the same objects really work.
 */

/** A TCP relay that records what reaches it, then forwards to `target` (the simulator). */
class RecordingRelay {
  private readonly server: net.Server;
  connections = 0;
  bytes = 0;
  port = 0;

  constructor(target: URL) {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(Number(target.port), target.hostname);
      client.on("data", (d: Buffer) => (this.bytes += d.length));
      for (const s of [client, upstream]) s.on("error", () => undefined);
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe.sequential("a tenant cannot borrow the operator's reach", () => {
  const h = useOperatorHarness();
  let relay: RecordingRelay;
  let tenantDir: string;
  let tenantKubeconfig: string;

  /** kubectl as the tenant's ServiceAccount (its token only); resolves with stdout or the error text. */
  const asTenant = async (args: string[], input?: string): Promise<{ ok: boolean; out: string }> => {
    const child = execFileAsync("kubectl", args, { env: { ...process.env, ...platformEnv(), KUBECONFIG: tenantKubeconfig } });
    if (input !== undefined) child.child.stdin?.end(input);
    try {
      return { ok: true, out: (await child).stdout };
    } catch (error) {
      return { ok: false, out: String((error as { stderr?: string }).stderr ?? error) };
    }
  };

  const readyOf = (vm: ProxmoxVMObject | undefined) => vm?.status?.conditions?.find((c) => c.type === "Ready");

  const connection = (name: string, endpoint: string, secretName: string) => ({
    apiVersion: API_GROUP_VERSION,
    kind: PROXMOX_CONNECTION.kind,
    metadata: { name },
    spec: { endpoint, tokenSecretRef: { name: secretName, key: "token" }, insecureSkipTLSVerify: true },
  });

  beforeAll(async () => {
    relay = await new RecordingRelay(new URL(h.sim.url)).start();
    const ns = h.namespace;
    // The Secret the tenant wants: someone else's, holding a working Proxmox token.
    await kubectl(["apply", "-n", ns, "-f", "-"], yamlOf({ apiVersion: "v1", kind: "Secret", metadata: { name: "platform-admin" }, stringData: { token: `PVEAPIToken=${h.sim.token}` } }));
    // The tenant: VMs and connections, nothing on Secrets.
    await kubectl(["create", "serviceaccount", "tenant", "-n", ns]);
    await kubectl(
      ["apply", "-n", ns, "-f", "-"],
      [
        yamlOf({
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "vm-author" },
          rules: [{ apiGroups: ["proxmox.terraform-manager.dev"], resources: ["proxmoxvms", "proxmoxconnections"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] }],
        }),
        yamlOf({
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "tenant-vm-author" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "vm-author" },
          subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: ns }],
        }),
      ].join("\n"),
    );
    const token = (await kubectl(["create", "token", "tenant", "-n", ns, "--duration=1h"])).trim();
    const cluster = platformKubeConfig().getCurrentCluster()!;
    tenantDir = await mkdtemp(path.join(os.tmpdir(), "ptm-tenant-"));
    tenantKubeconfig = path.join(tenantDir, "kubeconfig");
    await writeFile(
      tenantKubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "platform", cluster: { server: cluster.server, "certificate-authority-data": cluster.caData } }],
        users: [{ name: "tenant", user: { token } }],
        contexts: [{ name: "tenant", context: { cluster: "platform", user: "tenant", namespace: ns } }],
        "current-context": "tenant",
      }),
    );
  });

  afterAll(async () => {
    await relay?.close();
    if (tenantDir) await rm(tenantDir, { recursive: true, force: true });
  });

  it("the tenant really cannot read the Secret, but can create connections and VMs", async () => {
    const read = await asTenant(["get", "secret", "platform-admin", "-o", "json"]);
    expect(read.ok).toBe(false);
    expect(read.out).toMatch(/forbidden/i);
    const canCreate = await asTenant(["auth", "can-i", "create", "proxmoxconnections.proxmox.terraform-manager.dev"]);
    expect(canCreate.out.trim()).toBe("yes");
  });

  it("a connection naming a Secret that did not consent sends nothing anywhere, and the VM says why and how to consent", async () => {
    const applied = await asTenant(
      ["apply", "-f", "-"],
      [connection("borrowed", `https://127.0.0.1:${relay.port}/`, "platform-admin"), proxmoxVm("borrower", { connectionRef: { name: "borrowed" }, memory: { dedicated: 1024 } })].map(yamlOf).join("\n"),
    );
    expect(applied.ok, applied.out).toBe(true);

    const vm = await h.waitForVm("borrower", (v) => readyOf(v)?.reason === "SecretNotConsented");
    const ready = readyOf(vm)!;
    expect(ready.status).toBe("False");
    expect(ready.message).toContain("Secret");
    expect(ready.message).toContain("platform-admin");
    expect(ready.message).toContain(`kubectl label secret -n ${h.namespace} platform-admin ${CONSENT_LABEL}=proxmox-terraform-manager`);
    expect(relay.connections).toBe(0);
    expect(relay.bytes).toBe(0);
    expect(JSON.stringify(vm)).not.toContain(h.sim.token.split("=").at(-1));
    const runs = await h.runsOf("borrower");
    expect(runs.filter((r) => r.status !== "failed" && r.status !== "queued")).toEqual([]);
  });

  it("a plain http:// endpoint is refused before any Secret is read", async () => {
    const applied = await asTenant(
      ["apply", "-f", "-"],
      [connection("cleartext", `http://127.0.0.1:${relay.port}/`, "pve-token"), proxmoxVm("cleartext-vm", { connectionRef: { name: "cleartext" }, memory: { dedicated: 1024 } })].map(yamlOf).join("\n"),
    );
    expect(applied.ok, applied.out).toBe(true);
    const vm = await h.waitForVm("cleartext-vm", (v) => readyOf(v)?.reason === "EndpointNotAllowed");
    expect(readyOf(vm)?.message).toMatch(/http:\/\/.*unencrypted.*https:\/\//);
    expect(relay.connections).toBe(0);
    await asTenant(["delete", "pvm", "cleartext-vm", "--timeout=60s"]);
  });

  it("once the Secret's owner consents, the same connection works through the tenant's server", async () => {
    await kubectl(["label", "secret", "-n", h.namespace, "platform-admin", `${CONSENT_LABEL}=proxmox-terraform-manager`]);
    const vm = await h.waitForReady("borrower", undefined, 150_000);
    expect(vm?.status?.vmId).toBeGreaterThanOrEqual(100);
    expect(relay.connections).toBeGreaterThan(0);
    expect(h.simVms().map((v) => v.vmid)).toContain(vm?.status?.vmId);

    const deleted = await asTenant(["delete", "pvm", "borrower", "--timeout=120s"]);
    expect(deleted.ok, deleted.out).toBe(true);
    expect(h.simVms().map((v) => v.vmid)).not.toContain(vm?.status?.vmId);
  });
});
