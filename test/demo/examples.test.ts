import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { ProxmoxVMSpecInput } from "../../src/api/proxmox-vm.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { ensureCrds, OperatorHarness } from "../support/operator-harness.js";
import { guardOperatorHarness } from "../support/suite-hooks.js";
import { repoRoot } from "../support/paths.js";

/**
 * examples/ is what `npm run demo` applies and what users copy: every file must be accepted by
 * the API server as it is, and the VM examples must come up Ready through a real operator, with
 * the simulator holding exactly what they say.
 */
const examplesDir = path.join(repoRoot, "examples");
const allFiles = readdirSync(examplesDir).filter((f) => f.endsWith(".yaml")).sort();
const vmFiles = allFiles.filter((f) => f.startsWith("vm-"));

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: ProxmoxVMSpecInput;
}

function manifestsOf(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(path.join(examplesDir, file), "utf8")).map((d) => d.toJS() as Manifest);
}

const vmExamples = vmFiles.flatMap(manifestsOf).filter((m) => m.kind === "ProxmoxVM");

describe("examples/", () => {
  it("holds the connection template, the three VM examples the demo applies and the VM set", () => {
    expect(allFiles).toEqual(["connection.yaml", "vm-cloud-init.yaml", "vm-small.yaml", "vm-two-disks-two-nics.yaml", "vmset-web.yaml"]);
    expect(vmExamples.map((m) => m.metadata.name).sort()).toEqual(["app-static", "db-multi", "web-small"]);
  });

  it("connection.yaml keeps the placeholders scripts/demo substitutes", () => {
    const text = readFileSync(path.join(examplesDir, "connection.yaml"), "utf8");
    expect(text).toContain("PVEAPIToken=root@pam!operator=REPLACE-WITH-YOUR-TOKEN-SECRET");
    expect(text).toContain("endpoint: https://pve.example.com:8006/");
    expect(text).toContain("insecureSkipTLSVerify: false");
    const [secret, connection] = manifestsOf("connection.yaml") as unknown as [
      { kind: string; metadata: { name: string } },
      { kind: string; metadata: { name: string }; spec: { tokenSecretRef: { name: string; key: string } } },
    ];
    expect(connection.kind).toBe("ProxmoxConnection");
    expect(connection.metadata.name).toBe("pve");
    expect(connection.spec.tokenSecretRef).toEqual({ name: secret.metadata.name, key: "token" });
    for (const m of vmExamples) expect(m.spec.connectionRef.name).toBe("pve");
  });

  describe("every file passes a server-side dry run", () => {
    const namespace = uniqueName("examples");
    beforeAll(async () => {
      await ensureCrds();
      await kubectl(["create", "namespace", namespace]);
    });
    afterAll(() => deleteNamespace(namespace));

    it.each(allFiles)("%s", async (file) => {
      const out = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", path.join(examplesDir, file)]);
      for (const m of manifestsOf(file)) {
        expect(out).toMatch(new RegExp(`^${m.kind.toLowerCase()}(\\.[a-z.-]+)?/${m.metadata.name} created \\(server dry run\\)$`, "m"));
      }
    });
  });
});

describe("the VM examples, through a real operator", () => {
  const h = new OperatorHarness(); // creates ProxmoxConnection "pve" with Secret "pve-token", as connection.yaml does
  guardOperatorHarness(h);
  const applyArgs = () => ["apply", "--server-side", "--field-manager=argocd-controller", "-n", h.namespace, ...vmFiles.flatMap((f) => ["-f", path.join(examplesDir, f)])];

  beforeAll(() => h.start().then(() => undefined));
  afterAll(() => h.close());

  it("are all Ready, and the simulator holds the VMs as written", async () => {
    await kubectl(applyArgs());
    for (const m of vmExamples) {
      const vm = await h.waitForReady(m.metadata.name, 1);
      expect(vm?.status?.state).toBe("Running");
      expect(vm?.status?.ipAddresses?.length).toBeGreaterThan(0);
    }

    const simVms = h.simVms();
    expect(simVms).toHaveLength(vmExamples.length);
    for (const m of vmExamples) {
      const spec = m.spec;
      const vm = await h.getVm(m.metadata.name);
      const sim = simVms.find((v) => v.conf.name === m.metadata.name);
      expect(sim, `simulator VM named ${m.metadata.name}`).toBeDefined();
      const conf = sim!.conf as Record<string, string | number>;
      expect(sim!.vmid).toBe(vm?.status?.vmId);
      expect(sim!.status).toBe("running");
      expect(Number(conf.cores)).toBe(spec.cpu?.cores);
      expect(Number(conf.memory)).toBe(spec.memory?.dedicated);
      expect(String(conf.agent)).toMatch(/^(1|enabled=1)/);
      for (const disk of spec.disks ?? []) {
        expect(String(conf[disk.interface]), disk.interface).toMatch(new RegExp(`^${disk.datastoreId ?? "local-lvm"}:.*size=${disk.size}G`));
      }
      (spec.networkDevices ?? []).forEach((nic, i) => {
        const net = String(conf[`net${i}`]);
        expect(net).toMatch(new RegExp(`^${nic.model ?? "virtio"}=[0-9A-F:]{17},bridge=${nic.bridge}`));
        if (nic.vlanId) expect(net).toMatch(new RegExp(`tag=${nic.vlanId}\\b`));
        else expect(net).not.toMatch(/tag=/);
      });
      (spec.initialization?.ipConfigs ?? []).forEach((ip, i) => {
        const parts = String(conf[`ipconfig${i}`]).split(",").sort();
        const want = [`ip=${ip.ipv4!.address}`, ...(ip.ipv4!.gateway ? [`gw=${ip.ipv4!.gateway}`] : [])].sort();
        expect(parts, `ipconfig${i}`).toEqual(want);
      });
      if (spec.initialization?.userAccount?.username) expect(conf.ciuser).toBe(spec.initialization.userAccount.username);
    }

    // The examples' particulars, spelled out.
    const conf = (name: string) => simVms.find((v) => v.conf.name === name)!.conf as Record<string, string | number>;
    expect([Number(conf("web-small").cores), Number(conf("web-small").memory)]).toEqual([1, 1024]);
    expect(String(conf("app-static").ipconfig0)).toContain("ip=192.0.2.20/24");
    expect(conf("app-static").nameserver).toBe("192.0.2.53 192.0.2.54");
    expect(String(conf("db-multi").scsi0)).toMatch(/size=20G/);
    expect(String(conf("db-multi").scsi1)).toMatch(/size=50G/);
    expect(String(conf("db-multi").net1)).toMatch(/bridge=vmbr0.*tag=20/);
    expect(conf("db-multi").ipconfig1).toBe("ip=dhcp");
    expect((await h.getVm("app-static"))?.status?.ipAddresses).toContain("192.0.2.20");
  });

  it("a second apply of the same files, as Argo CD would sync them, changes nothing", async () => {
    const before = await Promise.all(vmExamples.map((m) => h.getVm(m.metadata.name)));
    await kubectl(applyArgs());
    const after = await Promise.all(vmExamples.map((m) => h.getVm(m.metadata.name)));
    after.forEach((vm, i) => {
      expect(vm?.metadata.resourceVersion, vm?.metadata.name).toBe(before[i]?.metadata.resourceVersion);
      expect(vm?.metadata.generation, vm?.metadata.name).toBe(1);
    });
  });
});
