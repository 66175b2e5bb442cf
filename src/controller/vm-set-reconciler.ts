import { CustomObjectsApi, type KubeConfig, type KubernetesObject, type V1ObjectMeta } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { API_GROUP, API_VERSION, PROXMOX_VM } from "../api/group.js";
import { ProxmoxVMSetSpecSchema, VM_SET_FINALIZER, VM_SET_HASH_ANNOTATION, VM_SET_LABEL, VM_SET_ORDINAL_LABEL, type ProxmoxVMSetSpecInput, type ProxmoxVMSetStatus } from "../api/proxmox-vm-set.js";
import type { StatusCondition } from "../api/status.js";
import { isConflict, isNotFound, statusCodeOf } from "../kube/api-error.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { EventRecorder } from "../kube/event-recorder.js";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../kube/finalizers.js";
import type { StatusWriter } from "../kube/status-writer.js";
import { parseKey, type ProxmoxVMObject } from "../kube/types.js";
import { desiredVm, vmManifest, type DesiredVm } from "../vm-set/desired-vm.js";
import type { WorkResult } from "./work-queue.js";

export interface ProxmoxVMSetObject extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string; uid: string };
  spec: ProxmoxVMSetSpecInput;
  status?: ProxmoxVMSetStatus;
}

export interface VmSetReconcilerDeps {
  kubeConfig: KubeConfig;
  sets: CustomObjects<ProxmoxVMSetObject>;
  status: StatusWriter<ProxmoxVMSetStatus, ProxmoxVMSetObject>;
  vms: CustomObjects<ProxmoxVMObject>;
  events: EventRecorder;
  logger: Logger;
}

/** While VMs are on their way (created, changed, deleted), look again this often even without an event. */
const SETTLING_RECHECK_MS = 15_000;

/** The owning set of a VM, if a set controls it. */
export function owningSet(vm: KubernetesObject): string | undefined {
  return vm.metadata?.ownerReferences?.find((r) => r.controller && r.kind === "ProxmoxVMSet" && r.apiVersion.startsWith(`${API_GROUP}/`))?.name;
}

/** Ready for the spec it has now: Ready True, and the status describes the current generation. */
export function isVmReady(vm: ProxmoxVMObject): boolean {
  return (
    vm.metadata.deletionTimestamp === undefined &&
    vm.status?.observedGeneration === vm.metadata.generation &&
    vm.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true
  );
}

const ordinalOf = (vm: ProxmoxVMObject) => Number(vm.metadata.labels?.[VM_SET_ORDINAL_LABEL] ?? Number.NaN);

/**
 * One ProxmoxVMSet: creates the VMs of ordinals 0..replicas-1 (all at once), deletes VMs past
 * replicas highest ordinal first (one at a time, each waiting for the one before to be gone),
 * rolls a template change maxUnavailable VMs at a time (a VM counts as unavailable until it is
 * Ready for its new generation), and on deletion deletes its VMs itself before letting the set
 * go: ownerReferences let a cluster's garbage collector do that too, but the operator does not
 * rely on one running.
 */
export class VmSetReconciler {
  private readonly api: CustomObjectsApi;

  constructor(private readonly d: VmSetReconcilerDeps) {
    this.api = d.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async reconcile(key: string): Promise<WorkResult> {
    const { namespace, name } = parseKey(key);
    let set: ProxmoxVMSetObject;
    try {
      set = await this.d.sets.get(namespace, name);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const owned = (await this.d.vms.list(namespace)).items.filter((vm) => vm.metadata.ownerReferences?.some((r) => r.controller && r.uid === set.metadata.uid));
    if (set.metadata.deletionTimestamp) return this.deleteSet(set, owned);
    if (!hasFinalizer(set, VM_SET_FINALIZER)) set = await addFinalizer(this.d.sets, set, VM_SET_FINALIZER);

    const parsed = ProxmoxVMSetSpecSchema.safeParse(set.spec);
    if (!parsed.success) {
      const message = `invalid spec: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
      await this.writeStatus(set, owned, undefined, { status: "False", reason: "InvalidSpec", message });
      return;
    }
    const spec = parsed.data;
    const problems: string[] = [];
    const desired: DesiredVm[] = [];
    for (let ordinal = 0; ordinal < spec.replicas; ordinal++) {
      const outcome = desiredVm(set, spec, ordinal);
      if (outcome.kind === "vm") desired.push(outcome.vm);
      else problems.push(outcome.message);
    }
    const byName = new Map(owned.map((vm) => [vm.metadata.name, vm]));
    const wanted = new Set(desired.map((vm) => vm.name));

    // Missing VMs: all at once (new VMs do not make running ones unavailable).
    for (const vm of desired.filter((v) => !byName.has(v.name))) {
      const problem = await this.create(set, vm);
      if (problem) problems.push(problem);
    }

    // Surplus VMs: highest ordinal first, one at a time.
    const surplus = owned.filter((vm) => !wanted.has(vm.metadata.name));
    if (surplus.length > 0 && !surplus.some((vm) => vm.metadata.deletionTimestamp)) {
      const highest = surplus.reduce((a, b) => (ordinalOf(b) > ordinalOf(a) ? b : a));
      await this.deleteVm(highest);
      await this.d.events.record(set, "Normal", "ScaledDown", `deleted ProxmoxVM ${highest.metadata.name} (replicas ${spec.replicas})`);
    }

    // Template changes: a VM that is not Ready anyway is changed at once; a Ready one only while
    // fewer than maxUnavailable of the set's VMs are un-ready.
    const current = desired.map((v) => ({ want: v, vm: byName.get(v.name) })).filter((p): p is { want: DesiredVm; vm: ProxmoxVMObject } => p.vm !== undefined);
    let budget = spec.maxUnavailable - current.filter((p) => !isVmReady(p.vm)).length;
    for (const { want, vm } of current) {
      if (vm.metadata.deletionTimestamp || vm.metadata.annotations?.[VM_SET_HASH_ANNOTATION] === want.hash) continue;
      const ready = isVmReady(vm);
      if (ready && budget <= 0) continue;
      const refused = await this.update(vm, want);
      if (refused === undefined) {
        if (ready) budget--;
        await this.d.events.record(set, "Normal", "VmUpdated", `changed ProxmoxVM ${vm.metadata.name} to the current template`);
      } else {
        problems.push(refused);
      }
    }

    const after = (await this.d.vms.list(namespace)).items.filter((vm) => vm.metadata.ownerReferences?.some((r) => r.controller && r.uid === set.metadata.uid));
    const hashes = new Map(desired.map((v) => [v.name, v.hash]));
    const summary = summarize(after, hashes);
    const settled = problems.length === 0 && summary.replicas === spec.replicas && summary.ready === spec.replicas && summary.updated === spec.replicas && after.length === spec.replicas;
    const ready: ReadyCondition = settled
      ? { status: "True", reason: "AllReplicasReady", message: `${spec.replicas} of ${spec.replicas} VMs Ready` }
      : problems.length > 0
        ? { status: "False", reason: problemReason(problems), message: problems.join("; ") }
        : { status: "False", reason: progressReason(summary, spec.replicas, after.length), message: `${summary.ready} of ${spec.replicas} VMs Ready, ${summary.updated} updated, ${after.length} present` };
    await this.writeStatus(set, after, hashes, ready);
    return settled ? undefined : { requeueAfterMs: SETTLING_RECHECK_MS };
  }

  private async deleteSet(set: ProxmoxVMSetObject, owned: ProxmoxVMObject[]): Promise<WorkResult> {
    if (owned.length === 0) {
      await removeFinalizer(this.d.sets, set, VM_SET_FINALIZER).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
      return;
    }
    for (const vm of owned) if (!vm.metadata.deletionTimestamp) await this.deleteVm(vm);
    await this.writeStatus(set, owned, undefined, { status: "False", reason: "Deleting", message: `deleting ${owned.length} VMs before the set goes` });
    return { requeueAfterMs: SETTLING_RECHECK_MS };
  }

  /** Undefined when created (or already there as ours); otherwise what is in the way. */
  private async create(set: ProxmoxVMSetObject, vm: DesiredVm): Promise<string | undefined> {
    const namespace = set.metadata.namespace;
    try {
      await this.api.createNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: PROXMOX_VM.plural, body: vmManifest(namespace, vm) });
      await this.d.events.record(set, "Normal", "VmCreated", `created ProxmoxVM ${vm.name} on ${String(vm.spec.nodeName)}`);
      return undefined;
    } catch (error) {
      // 422: the API server refused the VM as the set makes it (e.g. a name over 63 characters
      // from namePattern): retrying cannot help until the set changes.
      if (statusCodeOf(error) === 422) return `ProxmoxVM ${vm.name} was refused: ${apiMessage(error)}`;
      if (!isConflict(error)) throw error;
      const existing = await this.d.vms.get(namespace, vm.name).catch(() => undefined);
      if (existing && owningSet(existing) === set.metadata.name && existing.metadata.ownerReferences?.some((r) => r.uid === set.metadata.uid)) return undefined;
      const message = `ProxmoxVM ${vm.name} exists and does not belong to this set: it is left alone; delete or rename it, or change namePattern`;
      await this.d.events.record(set, "Warning", "NameTaken", message);
      return message;
    }
  }

  /**
   * Replaces the VM's spec (labels and annotations merged), guarded by its resourceVersion.
   * Undefined when done; otherwise why not (the API server refused it, or the VM changed meanwhile).
   */
  private async update(vm: ProxmoxVMObject, want: DesiredVm): Promise<string | undefined> {
    try {
      await this.d.vms.jsonPatch(vm.metadata.namespace, vm.metadata.name, [
        { op: "test", path: "/metadata/resourceVersion", value: vm.metadata.resourceVersion },
        { op: "replace", path: "/spec", value: want.spec },
        { op: "add", path: "/metadata/labels", value: { ...vm.metadata.labels, ...want.labels } },
        { op: "add", path: "/metadata/annotations", value: { ...vm.metadata.annotations, ...want.annotations } },
      ]);
      return undefined;
    } catch (error) {
      // 422: the API server refused the change (e.g. nodeName without migrate), or the VM changed
      // since it was read (the next reconcile reads it again and the message goes away).
      if (statusCodeOf(error) === 422 || isConflict(error) || isNotFound(error)) {
        this.d.logger.warn({ vm: vm.metadata.name, err: error }, "could not change the VM to the set's template");
        return `ProxmoxVM ${vm.metadata.name} was not changed to the current template: ${apiMessage(error)}`;
      }
      throw error;
    }
  }

  private async deleteVm(vm: ProxmoxVMObject): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace: vm.metadata.namespace, plural: PROXMOX_VM.plural, name: vm.metadata.name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async writeStatus(set: ProxmoxVMSetObject, vms: ProxmoxVMObject[], hashes: Map<string, string> | undefined, ready: ReadyCondition): Promise<void> {
    const summary = summarize(vms, hashes);
    await this.d.status.update(
      set.metadata.namespace,
      set.metadata.name,
      (s) => ({
        ...s,
        observedGeneration: set.metadata.generation ?? 0,
        replicas: summary.replicas,
        readyReplicas: summary.ready,
        updatedReplicas: summary.updated,
        selector: `${VM_SET_LABEL}=${set.metadata.name}`,
        conditions: withCondition(s.conditions, { type: "Ready", ...ready, observedGeneration: set.metadata.generation ?? 0 }),
      }),
      set.metadata.uid,
    );
  }
}

interface ReadyCondition {
  status: "True" | "False";
  reason: string;
  message: string;
}

function summarize(vms: ProxmoxVMObject[], hashes: Map<string, string> | undefined) {
  const present = vms.filter((vm) => !vm.metadata.deletionTimestamp);
  return {
    replicas: present.length,
    ready: present.filter(isVmReady).length,
    updated: hashes ? present.filter((vm) => hashes.get(vm.metadata.name) === vm.metadata.annotations?.[VM_SET_HASH_ANNOTATION]).length : 0,
  };
}

function problemReason(problems: string[]): string {
  if (problems.some((p) => p.includes("ipv4Pool"))) return "PoolExhausted";
  if (problems.some((p) => p.includes("not changed to the current template"))) return "UpdateRefused";
  if (problems.some((p) => p.includes("was refused:"))) return "CreateRefused";
  return "NameTaken";
}

/** The API server's own message (its Status body), e.g. the CEL rule a change broke. */
function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    const parsed = (typeof body === "string" ? JSON.parse(body) : body) as { message?: string } | undefined;
    if (parsed?.message) return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return (error as Error).message;
}

function progressReason(summary: { replicas: number; updated: number }, replicas: number, present: number): string {
  if (present > replicas) return "ScalingDown";
  if (summary.replicas < replicas) return "ScalingUp";
  if (summary.updated < replicas) return "RollingUpdate";
  return "WaitingForReady";
}

function withCondition(conditions: StatusCondition[] | undefined, next: Omit<StatusCondition, "lastTransitionTime">): StatusCondition[] {
  const previous = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  return [...(conditions ?? []).filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}
