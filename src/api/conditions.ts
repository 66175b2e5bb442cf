/** Condition types (kstatus-compatible) and the reasons the operator sets on them. */
export const ConditionType = {
  Ready: "Ready",
  Synced: "Synced",
  Reconciling: "Reconciling",
  Stalled: "Stalled",
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  Provisioned: "Provisioned",
  Planning: "Planning",
  AwaitingApproval: "AwaitingApproval",
  PlanDiscarded: "PlanDiscarded",
  Applying: "Applying",
  Cloning: "Cloning",
  Migrating: "Migrating",
  Queued: "Queued",
  ApplyFailed: "ApplyFailed",
  InsufficientStorage: "InsufficientStorage",
  LockTimeout: "LockTimeout",
  InvalidSpec: "InvalidSpec",
  ConnectionNotFound: "ConnectionNotFound",
  SecretNotFound: "SecretNotFound",
  SecretForbidden: "SecretForbidden",
  SecretNotConsented: "SecretNotConsented",
  EndpointNotAllowed: "EndpointNotAllowed",
  Deleting: "Deleting",
  Suspended: "Suspended",
  UpToDate: "UpToDate",
  DriftDetected: "DriftDetected",
  // Connections (ProxmoxConnection Ready) and VMs waiting on them.
  Connected: "Connected",
  Checking: "Checking",
  AuthenticationFailed: "AuthenticationFailed",
  PermissionDenied: "PermissionDenied",
  Unreachable: "Unreachable",
  TLSError: "TLSError",
  ConnectionNotReady: "ConnectionNotReady",
  // Preflight: what the spec names is not on Proxmox.
  NodeNotFound: "NodeNotFound",
  NodeOffline: "NodeOffline",
  CloneSourceNotFound: "CloneSourceNotFound",
  StorageNotFound: "StorageNotFound",
  BridgeNotFound: "BridgeNotFound",
  /** The plan would destroy or replace the VM and spec.allowReplacement is not set. */
  ReplacementRequired: "ReplacementRequired",
  /** A cloud-init password would be stored in plain-text state (Terraform, or encryption off) and PTM_ALLOW_PLAINTEXT_STATE is not set. */
  PlaintextStateRefused: "PlaintextStateRefused",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: Reason;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}
