/**
 * ProxmoxVMs "at rest": created with the operator's finalizer and given the status a worker
 * writes after a successful apply (the stack hash of the spec, Ready, a VM id), without running
 * tofu. Used by bench/at-rest.ts and the at-rest resync test.
 */
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, FINALIZER, PROXMOX_VM } from "../../src/api/group.js";
import { ProxmoxVMSpecSchema } from "../../src/api/proxmox-vm.js";
import type { ProxmoxVMStatus } from "../../src/api/status.js";
import type { ProxmoxVMObject } from "../../src/kube/types.js";
import type { Run } from "../../src/store/run-store.js";
import { synthesizeVmStack } from "../../src/synth/synthesize.js";
import type { ObservedConfig } from "../../src/vm/observed-config.js";
import { ready } from "../../src/vm/status.js";
import { proxmoxVm } from "./manifests.js";

/** The spec every fleet VM has (template 9000 on pve1 through connection "pve"). */
export function fleetVm(name: string) {
  return proxmoxVm(name, { cpu: { cores: 1 }, memory: { dedicated: 512 } }, { finalizers: [FINALIZER] });
}

/** Runs `task` over `items` with at most `limit` at once, retrying each a few times. */
export async function inPool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>, onDone?: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      for (let attempt = 1; ; attempt++) {
        try {
          await task(item);
          break;
        } catch (error) {
          if (attempt >= 5) throw error;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function createFleet(api: CustomObjectsApi, namespace: string, names: readonly string[], concurrency: number, onDone?: (done: number) => void): Promise<Map<string, ProxmoxVMObject>> {
  const created = new Map<string, ProxmoxVMObject>();
  const ref = { group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural };
  await inPool(
    names,
    concurrency,
    async (name) => {
      const vm = (await api.createNamespacedCustomObject({ ...ref, body: fleetVm(name) }).catch((error: unknown) => {
        // A retry after a lost answer finds it created.
        if ((error as { code?: number }).code !== 409) throw error;
        return api.getNamespacedCustomObject({ ...ref, name });
      })) as ProxmoxVMObject;
      created.set(name, vm);
    },
    onDone,
  );
  return created;
}

export interface AppliedStatusInput {
  endpoint: string;
  providerVersion: string;
  /** As the operator's hasher spells it: `tofu <version>`. */
  toolVersion: string;
  stateSchema: string;
  vmId: number;
  finishedAt: string;
  /** The config digest and power state a worker would have read after the apply. */
  observed?: ObservedConfig;
}

/** The status after a successful apply of `vm`'s spec, with the hash the controller computes. */
export function appliedStatus(vm: ProxmoxVMObject, o: AppliedStatusInput): ProxmoxVMStatus {
  const { namespace, name, uid } = vm.metadata;
  const generation = vm.metadata.generation ?? 1;
  const spec = ProxmoxVMSpecSchema.parse(vm.spec);
  const { hash } = synthesizeVmStack({ namespace, name, uid, allowDestroy: false, spec, vmId: o.vmId, providerVersion: o.providerVersion, toolVersion: o.toolVersion, endpoint: o.endpoint, stateSchema: o.stateSchema });
  const run: Run = {
    id: `seed-${o.vmId}`,
    namespace,
    name,
    uid,
    generation,
    specHash: hash,
    action: "apply",
    status: "succeeded",
    reason: "create",
    attempt: 1,
    jobId: null,
    worker: null,
    createdAt: o.finishedAt,
    startedAt: o.finishedAt,
    finishedAt: o.finishedAt,
    addCount: 1,
    changeCount: 0,
    destroyCount: 0,
    error: null,
    errorKind: null,
  };
  return ready({ generation, hash, vmId: o.vmId, node: "pve1", ipAddresses: [], started: true, ...(o.observed ? { observed: o.observed } : {}) }, run)({} as ProxmoxVMStatus);
}

export async function writeAppliedStatus(api: CustomObjectsApi, vm: ProxmoxVMObject, o: AppliedStatusInput): Promise<void> {
  const { namespace, name } = vm.metadata;
  const ref = { group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, name };
  const fresh = (await api.getNamespacedCustomObject(ref)) as ProxmoxVMObject;
  await api.replaceNamespacedCustomObjectStatus({ ...ref, body: { ...fresh, status: appliedStatus(fresh, o) } });
}

/** Outgoing HTTPS requests of an operator process, by "<port> <METHOD> <path shape>" (bench/support/request-counter.mjs). */
export type RequestTally = Record<string, number>;

export function diffTally(before: RequestTally, after: RequestTally): [string, number][] {
  return Object.entries(after)
    .map(([key, n]): [string, number] => [key, n - (before[key] ?? 0)])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
}

/** ptm_reconcile_total summed over results, from an operator's /metrics. */
export async function reconcileCount(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) if (line.startsWith("ptm_reconcile_total{")) total += Number(line.split(" ").pop());
  return total;
}

/**
 * Deletes a fleet's ProxmoxVMs with no controller running: their finalizers are removed first
 * (the platform has no namespace controller, so deleting the namespace alone would keep them in
 * etcd for good).
 */
export async function deleteFleet(api: CustomObjectsApi, namespace: string, concurrency: number): Promise<void> {
  const ref = { group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural };
  const list = (await api.listNamespacedCustomObject(ref)) as { items: ProxmoxVMObject[] };
  const ignoreGone = (error: unknown) => {
    if ((error as { code?: number }).code !== 404) throw error;
  };
  // One object at a time: a delete-collection of 10,000 outlasts the API server's 60 s request timeout.
  await inPool(list.items, concurrency, async (vm) => {
    if (vm.metadata.finalizers?.length) {
      await api.patchNamespacedCustomObject({ ...ref, name: vm.metadata.name, body: [{ op: "remove", path: "/metadata/finalizers" }] }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch)).catch(ignoreGone);
    }
    await api.deleteNamespacedCustomObject({ ...ref, name: vm.metadata.name }).catch(ignoreGone);
  });
}
