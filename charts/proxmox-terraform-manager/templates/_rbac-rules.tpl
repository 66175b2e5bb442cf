{{/*
What each role does with the API, verb by verb (checked against src/):
- controller: informers list/watch ProxmoxVMs and ProxmoxConnections; the reconciler gets a VM,
  edits its finalizers with JSON patches (src/kube/finalizers.ts), replaces status through the
  status subresource (src/kube/status-writer.ts: get the VM, PUT .../status), gets connections,
  and creates Events (src/kube/event-recorder.ts: core/v1 create, never patch); the connection
  check (src/controller/connection-reconciler.ts) replaces connections' status the same way.
  ProxmoxVMSets (src/controller/vm-set-reconciler.ts): list/watch sets, edit their finalizer
  (JSON patch), replace their status; create, patch (template changes) and delete the sets' VMs.
- worker: gets the VM, removes the finalizer after destroy (JSON patch), replaces status, gets the
  connection, creates Events; writes spec.writeOutputsTo (src/vm/output-writer.ts): gets,
  creates and updates ConfigMaps; creates and updates Secrets only with rbac.outputSecrets
  (reading one back needs the Secret grant below: with rbac.secretNames, list their names too).
- sidecar: its own ProxmoxVM and ProxmoxConnection informers (list/watch: GET /api/v1/vms and
  /api/v1/connections); answers from the caches, never writes, never gets Secrets.
Secrets (get only) and the leader Lease are granted separately (rbac-secrets.yaml, rbac-lease.yaml).
*/}}
{{- define "ptm.rules.controller" -}}
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvmsets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvmsets/status"]
  verbs: ["update"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms/status"]
  verbs: ["update"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxconnections"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxconnections/status"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{- define "ptm.rules.worker" -}}
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms"]
  verbs: ["get", "list", "patch"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms/status"]
  verbs: ["update"]
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxconnections"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update"]
{{- if .Values.rbac.outputSecrets }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update"]
{{- end }}
{{- end }}

{{- define "ptm.rules.sidecar" -}}
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms", "proxmoxconnections"]
  verbs: ["list", "watch"]
# The admin endpoints approve and discard plans by annotating the VM (merge patch, no other field).
- apiGroups: ["proxmox.terraform-manager.dev"]
  resources: ["proxmoxvms"]
  verbs: ["patch"]
{{- end }}

{{/* Secret reads: get only (the operator never lists or watches Secrets), optionally by name. */}}
{{- define "ptm.rules.secrets" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
  {{- with .Values.rbac.secretNames }}
  resourceNames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
