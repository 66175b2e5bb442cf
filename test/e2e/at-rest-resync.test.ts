/**
 * The controller at rest (issue 13): a periodic resync of ProxmoxVMs that are applied and
 * unchanged reads nothing per VM (no GET of the VM, its connection or the connection's Secret)
 * and writes nothing; a spec change afterwards is still seen and acted on from a fresh read.
 * The controller runs as its own process with a counter of its outgoing HTTPS requests
 * (bench/support/request-counter.mjs). Real apiserver and Redis; the Proxmox VE simulator.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { API_GROUP, API_VERSION, PROXMOX_VM } from "../../src/api/group.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import { createFleet, diffTally, reconcileCount, writeAppliedStatus, type RequestTally } from "../support/applied-fleet.js";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";
import { useOperatorHarness } from "../support/suite-hooks.js";
import { waitFor } from "../support/wait.js";

const VMS = 20;
const FIRST_VMID = 10_000;
/** One object read by name (not a list, not a watch): what a resync must not do per VM. */
const SINGLE_READ = / GET \S*\/(proxmoxvms|proxmoxconnections|secrets)\/\{name\}$/;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("a resync of VMs at rest", () => {
  const h = useOperatorHarness({ roles: [] });
  let tallyFile: string;
  let metricsUrl: string;
  const readTally = async (): Promise<RequestTally> => JSON.parse(await readFile(tallyFile, "utf8").catch(() => "{}")) as RequestTally;
  const api = () => h.kubeConfig.makeApiClient(CustomObjectsApi);

  it("makes no per-VM GET and no write, and a later spec change is still acted on", async () => {
    const env = platformEnv();
    const { stdout } = await promisify(execFile)(env.TOFU_BIN, ["version", "-json"], { env: { ...process.env, ...env } });
    const toolVersion = `tofu ${(JSON.parse(stdout) as { terraform_version: string }).terraform_version}`;
    const names = Array.from({ length: VMS }, (_, i) => `rest-${i}`);
    const created = await createFleet(api(), h.namespace, names, 8);
    const finishedAt = new Date().toISOString();
    for (const [i, name] of names.entries()) {
      await writeAppliedStatus(api(), created.get(name)!, { endpoint: h.sim.url, providerVersion: env.PTM_PROVIDER_VERSION, toolVersion, stateSchema: h.stateSchema, vmId: FIRST_VMID + i, finishedAt });
    }

    tallyFile = path.join(h.logDir, "requests.json");
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}`;
    h.startOperatorProcess(["controller"], {
      name: "controller",
      env: {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${path.join(repoRoot, "bench/support/request-counter.mjs")}`.trim(),
        PTM_BENCH_REQUEST_LOG: tallyFile,
        PTM_METRICS_PORT: String(port),
        PTM_RESYNC_INTERVAL: "5s",
        // No connection check inside the measured window: it reads the Secret by design.
        PTM_CONNECTION_CHECK_INTERVAL: "1h",
      },
    });

    // Start-up reconciles every VM from a fresh read, and the connection's first check wakes them
    // all again; wait until the connection is Ready and no reconcile ran for a few seconds.
    await waitFor("the connection's first check", async () => {
      const connection = (await api().getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace: h.namespace, plural: "proxmoxconnections", name: "pve" })) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return connection.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    }, 120_000);
    let last = { count: -1, at: Date.now() };
    await waitFor(
      "the controller's start-up reconciles to settle",
      async () => {
        const count = await reconcileCount(metricsUrl).catch(() => -1);
        if (count !== last.count) last = { count, at: Date.now() };
        return count >= VMS && Date.now() - last.at >= 3000;
      },
      120_000,
    );
    const startup = await readTally();
    expect(Object.entries(startup).some(([key]) => key.includes("/proxmoxvms/{name}"))).toBe(true);

    const before = { count: await reconcileCount(metricsUrl), tally: await readTally() };
    // Two full resyncs of every VM.
    await waitFor("two resyncs", async () => (await reconcileCount(metricsUrl)) >= before.count + 2 * VMS, 60_000);
    // The counter writes its tally every half second.
    await new Promise((r) => setTimeout(r, 1200));
    const during = diffTally(before.tally, await readTally());
    expect(during.filter(([key]) => SINGLE_READ.test(key))).toEqual([]);
    expect(during.filter(([key]) => / (PUT|PATCH|POST) /.test(key))).toEqual([]);

    // A spec change is an event: the VM is read afresh and its run queued for the new generation.
    const ref = { group: API_GROUP, version: API_VERSION, namespace: h.namespace, plural: PROXMOX_VM.plural, name: names[0]! };
    const fresh = (await api().getNamespacedCustomObject(ref)) as ProxmoxVMObject;
    await api().replaceNamespacedCustomObject({ ...ref, body: { ...fresh, spec: { ...fresh.spec, cpu: { cores: 2 } } } });
    const queued = await waitFor("the changed VM's run to be queued", async () => {
      const vm = (await api().getNamespacedCustomObject(ref)) as ProxmoxVMObject;
      const reconciling = vm.status?.conditions?.find((c) => c.type === "Reconciling");
      return reconciling?.status === "True" && reconciling.observedGeneration === vm.metadata.generation ? vm : undefined;
    });
    expect(queued.metadata.generation).toBeGreaterThan(fresh.metadata.generation ?? 1);
  });
});
