import type { ProxmoxVMObject } from "./types.js";

/**
 * Who wrote the approve (or discard) annotation: the field manager that owns it in managedFields
 * (kubectl's is "kubectl-annotate"; the sidecar's names its token identity). Undefined when the
 * object came without managedFields.
 */
export function annotationManager(vm: ProxmoxVMObject, annotation: string): string | undefined {
  const entries = (vm.metadata as { managedFields?: { manager?: string; time?: string; fieldsV1?: unknown }[] }).managedFields ?? [];
  const owned = entries.filter((e) => {
    const annotations = (e.fieldsV1 as { "f:metadata"?: { "f:annotations"?: Record<string, unknown> } } | undefined)?.["f:metadata"]?.["f:annotations"];
    return annotations !== undefined && `f:${annotation}` in annotations;
  });
  const latest = owned.sort((a, b) => String(b.time ?? "").localeCompare(String(a.time ?? "")))[0];
  return latest?.manager;
}
