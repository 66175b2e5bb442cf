/** Names that end up in users' git repositories: keep them stable. */
export const API_GROUP = "proxmox.terraform-manager.dev";
export const API_VERSION = "v1alpha1";
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

export const FINALIZER = `${API_GROUP}/finalizer`;
export const FIELD_MANAGER = "proxmox-terraform-manager";

export const PROXMOX_VM = { kind: "ProxmoxVM", plural: "proxmoxvms", singular: "proxmoxvm", shortNames: ["pvm"] } as const;
export const PROXMOX_CONNECTION = {
  kind: "ProxmoxConnection",
  plural: "proxmoxconnections",
  singular: "proxmoxconnection",
  shortNames: ["pxc"],
} as const;
export const CATEGORY = "proxmox";

/** Annotation that approves a pending plan (spec.approval: Manual): its value is status.pendingPlan.approveWith (the spec hash, or the plan's run id once the hash was approved before); the plan's run id always approves it. */
export const APPROVE_ANNOTATION = `${API_GROUP}/approve`;
/** Annotation that discards a pending plan: its value is status.pendingPlan.runId. Nothing is applied. */
export const DISCARD_ANNOTATION = `${API_GROUP}/discard`;
