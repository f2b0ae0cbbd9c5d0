{{/*
Names and labels shared by every template.

The RBAC templates (serviceaccounts.yaml, rbac-controller.yaml, rbac-speaker.yaml) use only
these expressions, so that controller/tests/chart_rbac.rs can render them without Helm:
  .Release.Namespace
  include "herald.fullname" .
  include "herald.configMapName" .
  include "herald.labels" . | nindent N
Keep it that way: the test fails on any other expression in those files.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: fullnameOverride, else the release name when it already
contains the chart name (release "herald" -> "herald"), else "<release>-herald".
Cluster-scoped names (ClusterRoles and their bindings) carry it too, so two releases in
one cluster do not collide.
*/}}
{{- define "herald.fullname" -}}
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

{{/* The ConfigMap that holds the config: existingConfigMap, else the chart's own. */}}
{{- define "herald.configMapName" -}}
{{- default (include "herald.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/* The image of both binaries. */}}
{{- define "herald.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "herald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the release's pods (add app.kubernetes.io/component). */}}
{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* --admin-addr of both binaries. */}}
{{- define "herald.adminAddr" -}}
{{- printf "%s:%d" .Values.admin.bindAddress (int .Values.admin.port) }}
{{- end }}
