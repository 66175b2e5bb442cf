{{/* Names, labels and the small pieces every template shares. */}}

{{- define "ptm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix; truncated to 44 so "<fullname>-controller-metrics" (a Service name) stays within 63. */}}
{{- define "ptm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 44 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ptm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ptm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ptm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ptm.labels" -}}
helm.sh/chart: {{ include "ptm.chart" . }}
{{ include "ptm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: proxmox-terraform-manager
{{- end }}

{{/* Labels of one role's objects. Call with (dict "root" $ "role" "controller"). */}}
{{- define "ptm.roleLabels" -}}
{{ include "ptm.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "ptm.roleSelectorLabels" -}}
{{ include "ptm.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/* A role's ServiceAccount name. Call with (dict "root" $ "role" "worker"). */}}
{{- define "ptm.serviceAccountName" -}}
{{- $sa := (index .root.Values .role).serviceAccount }}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "ptm.fullname" .root) .role) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{- define "ptm.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "ptm.leaseName" -}}
{{- default (include "ptm.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The Secret the chart creates from values (URLs, passphrase, tokens given inline). */}}
{{- define "ptm.secretName" -}}
{{- include "ptm.fullname" . }}
{{- end }}

{{- define "ptm.configMapName" -}}
{{- printf "%s-config" (include "ptm.fullname" .) }}
{{- end }}

{{/* Where each credential comes from: {name, key}, or nothing when it is not configured. */}}
{{- define "ptm.redisSecretRef" -}}
{{- if .Values.redis.enabled }}
name: {{ include "ptm.redisName" . }}
key: redis-url
{{- else if .Values.redis.existingSecret }}
name: {{ .Values.redis.existingSecret }}
key: {{ .Values.redis.existingSecretKey }}
{{- else }}
name: {{ include "ptm.secretName" . }}
key: redis-url
{{- end }}
{{- end }}

{{- define "ptm.databaseSecretRef" -}}
{{- if .Values.postgresql.enabled }}
name: {{ include "ptm.postgresqlName" . }}
key: database-url
{{- else if .Values.postgresql.existingSecret }}
name: {{ .Values.postgresql.existingSecret }}
key: {{ .Values.postgresql.existingSecretKey }}
{{- else }}
name: {{ include "ptm.secretName" . }}
key: database-url
{{- end }}
{{- end }}

{{- define "ptm.passphraseSecretRef" -}}
{{- if .Values.stateEncryption.existingSecret }}
name: {{ .Values.stateEncryption.existingSecret }}
key: {{ .Values.stateEncryption.existingSecretKey }}
{{- else if .Values.stateEncryption.passphrase }}
name: {{ include "ptm.secretName" . }}
key: state-encryption-passphrase
{{- end }}
{{- end }}

{{- define "ptm.readTokenSecretRef" -}}
{{- $auth := .Values.sidecar.auth }}
{{- if and $auth.existingSecret $auth.readTokenKey }}
name: {{ $auth.existingSecret }}
key: {{ $auth.readTokenKey }}
{{- else if and (not $auth.existingSecret) $auth.readToken }}
name: {{ include "ptm.secretName" . }}
key: sidecar-read-token
{{- else if include "ptm.generatesReadToken" . }}
name: {{ include "ptm.readTokenSecretName" . }}
key: read-token
{{- end }}
{{- end }}

{{/* True ("true") when the chart generates the read token: none given, generation not turned off. */}}
{{- define "ptm.generatesReadToken" -}}
{{- $auth := .Values.sidecar.auth }}
{{- if and $auth.generateReadToken (not $auth.existingSecret) (not $auth.readToken) -}}
true
{{- end }}
{{- end }}

{{- define "ptm.readTokenSecretName" -}}
{{- printf "%s-read-token" (include "ptm.fullname" .) }}
{{- end }}

{{/* Where the sidecar's database URL comes from: its own login when given, else the operator's. */}}
{{- define "ptm.sidecarDatabaseSecretRef" -}}
{{- $db := .Values.postgresql.sidecar }}
{{- if $db.existingSecret }}
name: {{ $db.existingSecret }}
key: {{ $db.existingSecretKey }}
{{- else if $db.url }}
name: {{ include "ptm.secretName" . }}
key: sidecar-database-url
{{- else if .Values.postgresql.enabled }}
name: {{ include "ptm.postgresqlName" . }}
key: sidecar-database-url
{{- else }}
{{- include "ptm.databaseSecretRef" . }}
{{- end }}
{{- end }}

{{- define "ptm.adminTokenSecretRef" -}}
{{- $auth := .Values.sidecar.auth }}
{{- if and $auth.existingSecret $auth.adminTokenKey }}
name: {{ $auth.existingSecret }}
key: {{ $auth.adminTokenKey }}
{{- else if and (not $auth.existingSecret) $auth.adminToken }}
name: {{ include "ptm.secretName" . }}
key: sidecar-admin-token
{{- end }}
{{- end }}

{{/* True ("true") when the chart must create its own Secret. */}}
{{- define "ptm.needsSecret" -}}
{{- $auth := .Values.sidecar.auth }}
{{- if or (not (or .Values.redis.enabled .Values.redis.existingSecret)) (not (or .Values.postgresql.enabled .Values.postgresql.existingSecret)) (and (not .Values.postgresql.sidecar.existingSecret) .Values.postgresql.sidecar.url) (and (not .Values.stateEncryption.existingSecret) .Values.stateEncryption.passphrase) (and (not $auth.existingSecret) (or $auth.readToken $auth.adminToken)) -}}
true
{{- end }}
{{- end }}

{{/* Namespaces where controller and worker may read Secrets (watchNamespace included). */}}
{{- define "ptm.secretNamespaces" -}}
{{- $namespaces := .Values.rbac.secretNamespaces }}
{{- if .Values.watchNamespace }}
{{- $namespaces = append $namespaces .Values.watchNamespace }}
{{- end }}
{{- $namespaces | uniq | toJson }}
{{- end }}

{{/* The namespace the custom resources are watched in, for Roles; "" when cluster-wide. */}}
{{- define "ptm.crNamespace" -}}
{{- .Values.watchNamespace }}
{{- end }}

{{/*
The bundled Redis and PostgreSQL (redis.enabled, postgresql.enabled): the name of the
StatefulSet, its Service, Secret and ConfigMap. At most 52 characters: a StatefulSet's pods carry
the label controller-revision-hash=<name>-<10 characters>, which must fit in 63. The full name
(at most 44) is shortened for "-postgresql", so the suffix always reads whole.
*/}}
{{- define "ptm.redisName" -}}
{{- printf "%s-redis" (include "ptm.fullname" .) }}
{{- end }}

{{- define "ptm.postgresqlName" -}}
{{- printf "%s-postgresql" (include "ptm.fullname" . | trunc 41 | trimSuffix "-") }}
{{- end }}

{{/* The pods that use the bundled services: the controller, worker and sidecar of this release. */}}
{{- define "ptm.operatorPodsSelector" -}}
matchLabels:
  {{- include "ptm.selectorLabels" . | nindent 2 }}
matchExpressions:
  - { key: app.kubernetes.io/component, operator: In, values: [controller, worker, sidecar] }
{{- end }}

{{/*
A generated password, kept across `helm upgrade`: the value of <key> in the installed Secret
<name> when there is one (lookup), else 32 random characters. Call with
(dict "root" $ "name" "<secret>" "key" "<key>"). `helm template` has no cluster: always fresh.
*/}}
{{- define "ptm.keptPassword" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $existing $existing.data (index $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}

{{/* The state encryption key Secret (the workers create it when missing). */}}
{{- define "ptm.stateKeySecretName" -}}
{{- .Values.stateEncryption.keySecret | default (printf "%s-state-key" (include "ptm.fullname" .)) -}}
{{- end }}
