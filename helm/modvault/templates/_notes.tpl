{{/* Text of NOTES.txt, a named template so that helm/ci checks can render it with `helm template`. */}}
{{- define "modvault.notes" -}}
modvault {{ .Values.image.tag | default .Chart.AppVersion }} is installed as {{ include "modvault.fullname" . }} in namespace {{ .Release.Namespace }}.
{{- $svc := printf "http://%s.%s.svc.cluster.local:%d" (include "modvault.fullname" .) .Release.Namespace (int .Values.service.port) }}

Point the go command at it by setting GOPROXY:
{{- if .Values.ingress.enabled }}
{{- $host := (index .Values.ingress.hosts 0).host }}
{{- $scheme := "http" }}
{{- range .Values.ingress.tls }}{{ if has $host .hosts }}{{ $scheme = "https" }}{{ end }}{{ end }}

  From outside the cluster, through the ingress:
    export GOPROXY={{ $scheme }}://{{ $host }}
{{- end }}

  From pods in the cluster:
    export GOPROXY={{ $svc }}

  From your machine, through a port forward:
    kubectl --namespace {{ .Release.Namespace }} port-forward service/{{ include "modvault.fullname" . }} 8080:{{ .Values.service.port }}
    export GOPROXY=http://127.0.0.1:8080

Keep GOSUMDB at its default (sum.golang.org): the go command then reaches the
checksum database through modvault's /sumdb/ endpoint. For private modules,
set GONOSUMDB to the same globs as config.nosumdb, and do not set GOPRIVATE or
GONOPROXY for them, or the go command bypasses the proxy.

Check that it is up:
  helm test {{ .Release.Name }} --namespace {{ .Release.Namespace }}
{{- if not .Values.persistence.enabled }}

WARNING: persistence.enabled is false. The store is an emptyDir and is lost
when the pod is deleted or moved to another node.
{{- end }}
{{- end }}
