{{- define "reportgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "reportgate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "reportgate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reportgate.secretName" -}}
{{- default (include "reportgate.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "reportgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "reportgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateway configuration file (secrets come from files and env, never from here). */}}
{{- define "reportgate.config" -}}
server:
  listen: "0.0.0.0:{{ .Values.service.port }}"
  drain_delay: {{ .Values.shutdown.drainDelaySeconds }}s
  shutdown_timeout: {{ .Values.shutdown.shutdownTimeoutSeconds }}s
admin:
  listen: "0.0.0.0:{{ .Values.service.metricsPort }}"
tenant:
  {{- $tenant := merge (dict "base_url" .Values.tenant.baseUrl "client_secret_file" "/var/run/secrets/reportgate/client-secret") .Values.tenant.settings }}
  {{- toYaml $tenant | nindent 2 }}
log:
  {{- toYaml .Values.log | nindent 2 }}
auth:
  {{- $auth := merge (dict "id_signing_key_file" "/var/run/secrets/reportgate/id-signing-key") .Values.auth }}
  {{- toYaml $auth | nindent 2 }}
policy:
  {{- toYaml .Values.policy | nindent 2 }}
{{- with .Values.limits }}
limits:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.cache }}
cache:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.redis.url }}
redis:
  {{- $replicas := .Values.replicaCount | int }}
  {{- if .Values.autoscaling.enabled }}{{ $replicas = .Values.autoscaling.maxReplicas | int }}{{ end }}
  {{- $share := .Values.redis.fallbackShare | default (divf 1 (max $replicas 1)) }}
  {{- $redis := dict "url" .Values.redis.url "fallback_share" $share }}
  {{- if .Values.redis.passwordSecret.name }}
  {{- $_ := set $redis "password_file" "/var/run/secrets/reportgate-redis/password" }}
  {{- end }}
  {{- if .Values.redis.caSecret.name }}
  {{- $_ := set $redis "ca_file" "/var/run/secrets/reportgate-redis-ca/ca.crt" }}
  {{- end }}
  {{- toYaml (merge $redis .Values.redis.settings) | nindent 2 }}
{{- end }}
audit:
  stdout: {{ .Values.audit.stdout }}
  {{- if .Values.audit.file.enabled }}
  file: /var/lib/reportgate/audit/audit.jsonl
  {{- end }}
  {{- if .Values.secrets.values.auditHmacKey }}
  hmac_key_file: /var/run/secrets/reportgate/audit-hmac-key
  {{- end }}
  {{- with .Values.audit.modes }}
  modes:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
