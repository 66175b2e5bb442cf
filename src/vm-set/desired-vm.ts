import { createHash } from "node:crypto";
import type { V1OwnerReference } from "@kubernetes/client-node";
import { API_GROUP_VERSION, PROXMOX_VM } from "../api/group.js";
import type { ProxmoxVMSpecInput } from "../api/proxmox-vm.js";
import { PROXMOX_VM_SET, VM_SET_HASH_ANNOTATION, VM_SET_LABEL, VM_SET_ORDINAL_LABEL, type ProxmoxVMSetSpec } from "../api/proxmox-vm-set.js";
import { canonicalJson } from "../synth/canonical-json.js";

/** A ProxmoxVMSet as read from the API server. */
export interface ProxmoxVMSetLike {
  metadata: { name: string; namespace: string; uid: string };
}

/** The ProxmoxVM one ordinal of a set should be. */
export interface DesiredVm {
  ordinal: number;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: ProxmoxVMSpecInput;
  /** Of labels, annotations (without the hash) and spec: equal hashes, nothing to change. */
  hash: string;
  ownerReference: V1OwnerReference;
}

export type DesiredOutcome = { kind: "vm"; vm: DesiredVm } | { kind: "pool-exhausted"; ordinal: number; message: string };

export function vmName(spec: Pick<ProxmoxVMSetSpec, "namePattern">, setName: string, ordinal: number): string {
  return spec.namePattern.replaceAll("{set}", setName).replaceAll("{ordinal}", String(ordinal));
}

const ipToNumber = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
const numberToIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/** How many addresses the pool holds (0 when end is below start). */
export function poolSize(pool: NonNullable<ProxmoxVMSetSpec["ipv4Pool"]>): number {
  if (pool.count !== undefined) return Math.min(pool.count, 2 ** 32 - ipToNumber(pool.start));
  return Math.max(0, ipToNumber(pool.end!) - ipToNumber(pool.start) + 1);
}

/** The pool's address for `ordinal`, or undefined past its end. */
export function poolAddress(pool: NonNullable<ProxmoxVMSetSpec["ipv4Pool"]>, ordinal: number): string | undefined {
  return ordinal < poolSize(pool) ? numberToIp(ipToNumber(pool.start) + ordinal) : undefined;
}

/**
 * The VM of `ordinal`: the template, on nodes[ordinal mod len] when nodes are given, with the
 * pool's address in its first ipConfig when a pool is given.
 */
export function desiredVm(set: ProxmoxVMSetLike, spec: ProxmoxVMSetSpec, ordinal: number): DesiredOutcome {
  const template = spec.template;
  const vmSpec = structuredClone(template.spec) as ProxmoxVMSpecInput & { nodeName?: string };
  if (spec.nodes) vmSpec.nodeName = spec.nodes[ordinal % spec.nodes.length]!;
  if (spec.ipv4Pool) {
    const address = poolAddress(spec.ipv4Pool, ordinal);
    if (address === undefined) {
      return { kind: "pool-exhausted", ordinal, message: `ipv4Pool has ${poolSize(spec.ipv4Pool)} addresses: no address for ordinal ${ordinal}; widen the pool or lower replicas` };
    }
    const initialization = (vmSpec.initialization ??= {});
    const [first, ...rest] = initialization.ipConfigs ?? [];
    const ipv4 = { address: `${address}/${spec.ipv4Pool.prefix}`, ...(spec.ipv4Pool.gateway ? { gateway: spec.ipv4Pool.gateway } : {}) };
    initialization.ipConfigs = [{ ...first, ipv4 }, ...rest];
  }
  const labels = { ...template.metadata?.labels, [VM_SET_LABEL]: set.metadata.name, [VM_SET_ORDINAL_LABEL]: String(ordinal) };
  const annotations = { ...template.metadata?.annotations };
  const hash = createHash("sha256").update(canonicalJson({ labels, annotations, spec: vmSpec })).digest("hex").slice(0, 16);
  return {
    kind: "vm",
    vm: {
      ordinal,
      name: vmName(spec, set.metadata.name, ordinal),
      labels,
      annotations: { ...annotations, [VM_SET_HASH_ANNOTATION]: hash },
      spec: vmSpec as ProxmoxVMSpecInput,
      hash,
      ownerReference: { apiVersion: API_GROUP_VERSION, kind: PROXMOX_VM_SET.kind, name: set.metadata.name, uid: set.metadata.uid, controller: true },
    },
  };
}

/** A new ProxmoxVM object for `vm`. */
export function vmManifest(namespace: string, vm: DesiredVm) {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: PROXMOX_VM.kind,
    metadata: { name: vm.name, namespace, labels: vm.labels, annotations: vm.annotations, ownerReferences: [vm.ownerReference] },
    spec: vm.spec,
  };
}
