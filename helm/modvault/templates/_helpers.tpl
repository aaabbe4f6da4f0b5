{{/* Chart name, or nameOverride. */}}
{{- define "modvault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, or the release name
followed by the chart name unless the release name already contains it.
Truncated to 63 characters, the limit of a DNS label.
*/}}
{{- define "modvault.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "modvault.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "modvault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modvault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modvault.labels" -}}
helm.sh/chart: {{ include "modvault.chart" . }}
{{ include "modvault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "modvault.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modvault.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "modvault.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* MODVAULT_LISTEN value; an IPv6 host is put in brackets. */}}
{{- define "modvault.listen" -}}
{{- if contains ":" .Values.listenHost }}
{{- printf "[%s]:%d" .Values.listenHost (int .Values.containerPort) }}
{{- else }}
{{- printf "%s:%d" .Values.listenHost (int .Values.containerPort) }}
{{- end }}
{{- end }}

{{/* Name of the claim that holds the store. */}}
{{- define "modvault.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "modvault.fullname" .)) }}
{{- end }}

{{/*
Rejects combinations of values that cannot work. Rendered by every template
that depends on them, so `helm template` and `helm install` fail early.
*/}}
{{- define "modvault.validate" -}}
{{- $type := .Values.storage.type }}
{{- if eq $type "s3" }}
{{- fail "storage.type \"s3\" is reserved for the planned object storage backend, which modvault does not support yet. Use storage.type \"local\"." }}
{{- else if ne $type "local" }}
{{- fail (printf "storage.type %q is invalid: use \"local\"." $type) }}
{{- end }}
{{- $replicas := int .Values.replicaCount }}
{{- if and (eq $type "local") (gt $replicas 1) }}
{{- fail (printf "replicaCount is %d, but storage.type \"local\" keeps the store on one volume that only one pod can open: several replicas need shared object storage (storage.type \"s3\", a planned backend). Set replicaCount to 1." $replicas) }}
{{- end }}
{{- if lt $replicas 0 }}
{{- fail (printf "replicaCount is %d: it must be 0 or 1." $replicas) }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set either minAvailable or maxUnavailable, not both. Set the other one to null." }}
{{- end }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail "podDisruptionBudget is enabled but neither minAvailable nor maxUnavailable is set." }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled is true but ingress.hosts is empty: add at least one host." }}
{{- end }}
{{- end }}
