import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1OwnerReference, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { API_GROUP_VERSION, FIELD_MANAGER, PROXMOX_VM } from "../api/group.js";
import { OUTPUT_KEYS, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import { isConflict, isForbidden, isNotFound } from "../kube/api-error.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import type { ProxmoxVMObject } from "../kube/types.js";

export type OutputKey = (typeof OUTPUT_KEYS)[number];

/** Event reasons this module records. */
export const OutputReason = {
  Written: "OutputsWritten",
  NameTaken: "OutputsNameTaken",
  Failed: "OutputsNotWritten",
} as const;

export type OutputWriteResult = { kind: "none" | "unchanged" | "created" | "updated" | "name-taken" } | { kind: "failed"; message: string };

/**
 * The data an output object holds, from a run's tofu outputs: one string per key, lists joined
 * by commas (what an env var or a template reads most easily). `keys` narrows it.
 */
export function outputData(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, outputs: Record<string, unknown>, keys?: readonly OutputKey[]): Record<string, string> {
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String).join(",") : "");
  const all: Record<OutputKey, string> = {
    vm_id: String(outputs.vm_id ?? vm.status?.vmId ?? ""),
    node: typeof outputs.node_name === "string" ? outputs.node_name : spec.nodeName,
    name: spec.name ?? vm.metadata.name,
    ipv4_addresses: list(outputs.ipv4_addresses),
    ipv6_addresses: list(outputs.ipv6_addresses),
    // The guest agent reports the loopback interface too, with an all-zero MAC.
    mac_addresses: list(Array.isArray(outputs.mac_addresses) ? outputs.mac_addresses.filter((mac) => !/^(00:){5}00$/.test(String(mac))) : []),
  };
  const wanted = keys ?? OUTPUT_KEYS;
  return Object.fromEntries(wanted.map((key) => [key, all[key]]));
}

function ownerReferenceOf(vm: ProxmoxVMObject): V1OwnerReference {
  return { apiVersion: API_GROUP_VERSION, kind: PROXMOX_VM.kind, name: vm.metadata.name, uid: vm.metadata.uid, controller: true };
}

const ownedBy = (refs: V1OwnerReference[] | undefined, uid: string) => refs?.some((r) => r.uid === uid) === true;

const sameData = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** A ConfigMap or a Secret, behind one interface: Secret data is base64 on the wire. */
interface Target {
  kind: "ConfigMap" | "Secret";
  name: string;
  read(namespace: string): Promise<{ data: Record<string, string>; owners: V1OwnerReference[] | undefined; object: V1ConfigMap | V1Secret } | undefined>;
  create(namespace: string, data: Record<string, string>, owner: V1OwnerReference): Promise<void>;
  replace(namespace: string, object: V1ConfigMap | V1Secret, data: Record<string, string>): Promise<void>;
}

/**
 * Writes a VM's outputs into the ConfigMap or Secret `spec.writeOutputsTo` names, in the VM's
 * namespace, after each successful run: created owned by the ProxmoxVM (Kubernetes' garbage
 * collector deletes it with the VM), replaced only when a value changed. An object of that name
 * that the VM does not own is never touched: an Event says so. A failure here never fails the
 * run (the VM is applied); it is logged and recorded as an Event.
 */
export class OutputWriter {
  private readonly core: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly events: EventRecorder,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async write(vm: ProxmoxVMObject, spec: ProxmoxVMSpec, outputs: Record<string, unknown>, log?: Logger): Promise<OutputWriteResult> {
    const to = spec.writeOutputsTo;
    if (!to) return { kind: "none" };
    const target = to.secretName !== undefined ? this.secret(to.secretName) : this.configMap(to.configMapName!);
    const data = outputData(vm, spec, outputs, to.keys);
    try {
      const result = await this.writeTo(target, vm, data);
      if (result.kind === "name-taken") {
        const message = `${target.kind} ${target.name} exists and is not owned by this ProxmoxVM: outputs not written. Delete it or choose another name in spec.writeOutputsTo`;
        await this.events.record(vm, "Warning", OutputReason.NameTaken, message);
      } else if (result.kind === "created" || result.kind === "updated") {
        await this.events.record(vm, "Normal", OutputReason.Written, `outputs ${result.kind === "created" ? "written to new" : "updated in"} ${target.kind} ${target.name}`);
      }
      return result;
    } catch (error) {
      const forbidden = isForbidden(error)
        ? target.kind === "Secret"
          ? ": the operator may not read or write this Secret (chart: rbac.outputSecrets and rbac.secretNamespaces), or use configMapName"
          : ": the operator may not read or write ConfigMaps in this namespace (the chart's worker role grants it)"
        : `: ${(error as Error).message}`;
      const message = `could not write outputs to ${target.kind} ${target.name}${forbidden}`;
      log?.warn({ err: error }, message);
      await this.events.record(vm, "Warning", OutputReason.Failed, message);
      return { kind: "failed", message };
    }
  }

  private async writeTo(target: Target, vm: ProxmoxVMObject, data: Record<string, string>): Promise<OutputWriteResult> {
    const namespace = vm.metadata.namespace;
    for (let attempt = 1; ; attempt++) {
      const existing = await target.read(namespace);
      try {
        if (!existing) {
          await target.create(namespace, data, ownerReferenceOf(vm));
          return { kind: "created" };
        }
        if (!ownedBy(existing.owners, vm.metadata.uid)) return { kind: "name-taken" };
        if (sameData(existing.data, data)) return { kind: "unchanged" };
        await target.replace(namespace, existing.object, data);
        return { kind: "updated" };
      } catch (error) {
        // Someone wrote it between our read and write (409 on create and on replace): read again.
        if (!isConflict(error) || attempt >= 3) throw error;
      }
    }
  }

  private configMap(name: string): Target {
    return {
      kind: "ConfigMap",
      name,
      read: async (namespace) => {
        const object = await orUndefined(this.core.readNamespacedConfigMap({ namespace, name }));
        return object && { data: object.data ?? {}, owners: object.metadata?.ownerReferences, object };
      },
      create: async (namespace, data, owner) => {
        await this.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, ownerReferences: [owner] }, data }, fieldManager: FIELD_MANAGER });
      },
      replace: async (namespace, object, data) => {
        await this.core.replaceNamespacedConfigMap({ namespace, name, body: { ...object, data }, fieldManager: FIELD_MANAGER });
      },
    };
  }

  private secret(name: string): Target {
    return {
      kind: "Secret",
      name,
      read: async (namespace) => {
        const object = await orUndefined(this.core.readNamespacedSecret({ namespace, name }));
        return object && { data: decode(object.data ?? {}), owners: object.metadata?.ownerReferences, object };
      },
      create: async (namespace, data, owner) => {
        const body: V1Secret = { metadata: { name, ownerReferences: [owner] }, type: "Opaque", data: encode(data) };
        await this.core.createNamespacedSecret({ namespace, body, fieldManager: FIELD_MANAGER });
      },
      replace: async (namespace, object, data) => {
        await this.core.replaceNamespacedSecret({ namespace, name, body: { ...object, data: encode(data) }, fieldManager: FIELD_MANAGER });
      },
    };
  }
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
const decode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
