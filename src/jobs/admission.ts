import { Reason } from "../api/conditions.js";
import { ProxmoxVMSpecSchema, type ProxmoxVMSpec } from "../api/proxmox-vm.js";
import { isNotFound } from "../kube/api-error.js";
import type { CustomObjects } from "../kube/custom-objects.js";
import type { ProxmoxVMObject } from "../kube/types.js";
import type { RunAction } from "../store/run-store.js";
import { ConnectionProblem, type ConnectionResolver, type ResolvedConnection } from "../vm/connection-resolver.js";
import { describeSpecIssues } from "../vm/spec-issues.js";
import type { StackHasher } from "../vm/stack-hasher.js";
import { isUpToDate } from "../vm/status.js";
import type { RunJob } from "../queue/run-queue.js";

/** What a job does with the VM it names, decided once from the VM as it is now. */
export type Admission =
  /** The VM is gone, was re-created (other uid), is suspended, or already matches this spec. */
  | { kind: "skip"; why: string }
  /** Deleted with deletionPolicy Orphan and a spec that no longer parses: just let it go. */
  | { kind: "release-without-spec"; vm: ProxmoxVMObject }
  | { kind: "stall"; vm: ProxmoxVMObject; reason: Reason; message: string }
  /** The connection or a Secret is missing: the controller queues a new run when it appears. */
  | { kind: "wait"; vm: ProxmoxVMObject; problem: ConnectionProblem }
  | { kind: "admitted"; vm: ProxmoxVMObject; spec: ProxmoxVMSpec; connection: ResolvedConnection | undefined; action: RunAction };

export interface AdmissionDeps {
  vms: CustomObjects<ProxmoxVMObject>;
  connections: ConnectionResolver;
  hasher: StackHasher;
  /** Set when state is not encrypted and plain text was not accepted: why a VM with a cloud-init password may not run. */
  plaintextStateRefusal?: string | undefined;
}

/** Reads the VM, its spec and its connection, and decides: skip, stall, wait, or run. */
export async function admit(d: AdmissionDeps, job: RunJob): Promise<Admission> {
  let vm: ProxmoxVMObject;
  try {
    vm = await d.vms.get(job.namespace, job.name);
  } catch (error) {
    if (isNotFound(error)) return { kind: "skip", why: "the ProxmoxVM is gone" };
    throw error;
  }
  if (vm.metadata.uid !== job.uid) return { kind: "skip", why: "the ProxmoxVM was re-created" };
  const deleting = Boolean(vm.metadata.deletionTimestamp);
  if (!deleting && vm.spec.suspend) return { kind: "skip", why: "spec.suspend is true" };
  const orphan = deleting && vm.spec.deletionPolicy === "Orphan";
  const action: RunAction = orphan ? "forget" : deleting ? "destroy" : "apply";

  const parsed = ProxmoxVMSpecSchema.safeParse(vm.spec);
  if (!parsed.success) {
    if (orphan) return { kind: "release-without-spec", vm };
    return { kind: "stall", vm, reason: Reason.InvalidSpec, message: describeSpecIssues(parsed.error) };
  }
  const spec = parsed.data;
  if (action === "apply" && d.plaintextStateRefusal && spec.initialization?.userAccount?.passwordSecretRef) {
    return { kind: "stall", vm, reason: Reason.PlaintextStateRefused, message: d.plaintextStateRefusal };
  }

  let connection: ResolvedConnection | undefined;
  try {
    connection = await d.connections.resolve(vm.metadata.namespace, spec.connectionRef.name);
  } catch (error) {
    if (!(error instanceof ConnectionProblem)) throw error;
    // Orphaning only edits Terraform state: it needs no connection.
    if (!orphan) return { kind: "wait", vm, problem: error };
  }

  if (action === "apply" && connection && (job.reason === "create" || job.reason === "update")) {
    // Level-based here too: a reconcile that read the VM before the previous run finished may
    // queue a run for a spec that run already applied. Drift, approved and manual runs always run.
    const hashed = d.hasher.hash(vm, spec, connection.spec.endpoint);
    if (hashed.ok && isUpToDate(vm, hashed.hash)) return { kind: "skip", why: "the VM already matches this spec" };
  }
  return { kind: "admitted", vm, spec, connection, action };
}
