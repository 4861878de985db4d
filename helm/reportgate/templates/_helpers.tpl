{{/* Chart name, overridable (nameOverride), e.g. when an umbrella chart renames it. */}}
{{- define "reportgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "reportgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "reportgate.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "reportgate.labels" -}}
{{ include "reportgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "reportgate.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "reportgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reportgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The version the pods run: the image tag, else the chart's appVersion (a label value:
63 characters of [A-Za-z0-9._-]). */}}
{{- define "reportgate.version" -}}
{{- regexReplaceAll "[^A-Za-z0-9._-]" (default .Chart.AppVersion .Values.image.tag) "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* repository[:tag][@digest]; a digest pins the image whatever the tag says. */}}
{{- define "reportgate.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with (.Values.global | default dict).imageRegistry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo -}}
{{- end -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" $repo $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
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

{{/* The file audit trail on a PVC: one volume per replica (StatefulSet volumeClaimTemplates),
so each replica keeps its own hash chain. A shared ReadWriteOnce claim cannot attach on two
nodes, and two writers on one node would interleave two chains in one file. */}}
{{- define "reportgate.statefulSet" -}}
{{- if and .Values.audit.file.enabled (eq .Values.audit.file.volume "pvc") -}}true{{- end -}}
{{- end -}}

{{/* Is the audit HMAC key in the Secret? Explicitly (audit.hmacKey.enabled, the way with
existingSecret) or because secrets.values.auditHmacKey is set (as before hmacKey existed). */}}
{{- define "reportgate.auditHmac" -}}
{{- if or .Values.audit.hmacKey.enabled .Values.secrets.values.auditHmacKey -}}true{{- end -}}
{{- end -}}

{{/* "scheme://host:port/..." -> port, else the scheme's default (second argument: a dict of
scheme -> port). */}}
{{- define "reportgate.urlPort" -}}
{{- $u := urlParse (index . 0) -}}
{{- $port := regexFind ":[0-9]+$" $u.host | trimPrefix ":" -}}
{{- if $port -}}{{ $port }}{{- else -}}{{ index (index . 1) $u.scheme | default 443 }}{{- end -}}
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
  {{- with .Values.proxy.url }}
  {{- $proxy := dict "url" . "no_proxy" $.Values.proxy.noProxy }}
  {{- with $.Values.proxy.username }}
  {{- $_ := set $proxy "username" . }}
  {{- $_ := set $proxy "password_file" "/var/run/secrets/reportgate/proxy-password" }}
  {{- end }}
  {{- $_ := set $tenant "proxy" $proxy }}
  {{- end }}
  {{- toYaml $tenant | nindent 2 }}
log:
  {{- $log := dict "format" .Values.log.format "level" .Values.log.level }}
  {{- with .Values.log.otlp_endpoint }}{{ $_ := set $log "otlp_endpoint" . }}{{ end }}
  {{- with .Values.log.service_name }}{{ $_ := set $log "service_name" . }}{{ end }}
  {{- toYaml $log | nindent 2 }}
auth:
  {{- $auth := merge (dict "id_signing_key_file" "/var/run/secrets/reportgate/id-signing-key") .Values.auth }}
  {{- if .Values.clients.existingSecret }}
  {{- $_ := set $auth "clients_file" "/var/run/secrets/reportgate-clients/clients.yaml" }}
  {{- end }}
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
  max_files: {{ .Values.audit.file.maxFiles | int64 }}
  max_total_bytes: {{ .Values.audit.file.maxTotalBytes | int64 }}
  {{- end }}
  {{- if include "reportgate.auditHmac" . }}
  hmac_key_file: /var/run/secrets/reportgate/audit-hmac-key
  {{- end }}
  {{- with .Values.audit.modes }}
  modes:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
