{{/* The pod template shared by the Deployment and the StatefulSet. */}}
{{- define "reportgate.podTemplate" -}}
metadata:
  labels:
    {{- include "reportgate.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ include "reportgate.version" . | quote }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Configuration and chart-managed Secret changes roll the pods.
    checksum/config: {{ include "reportgate.config" . | sha256sum }}
    {{- if not .Values.secrets.existingSecret }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "reportgate.serviceAccountName" . }}
  automountServiceAccountToken: false
  # Kubernetes would inject <SVC>_SERVICE_* variables for every service in the namespace.
  enableServiceLinks: false
  # Drain delay + in-flight grace + a margin for the audit flush.
  terminationGracePeriodSeconds: {{ add .Values.shutdown.drainDelaySeconds .Values.shutdown.shutdownTimeoutSeconds 5 }}
  {{- $global := .Values.global | default dict }}
  {{- $pullSecrets := concat ($global.imagePullSecrets | default list) .Values.imagePullSecrets }}
  {{- with $pullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: reportgate
      image: {{ include "reportgate.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve", "--config", "/etc/reportgate/config.yaml"]
      env:
        - name: REPORTGATE__TENANT__CLIENT_ID
          valueFrom:
            secretKeyRef:
              name: {{ include "reportgate.secretName" . }}
              key: client-id
        {{- with .Values.proxy.url }}
        - name: HTTPS_PROXY
          value: {{ . | quote }}
        - name: HTTP_PROXY
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.proxy.noProxy }}
        - name: NO_PROXY
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
        - name: metrics
          containerPort: {{ .Values.service.metricsPort }}
          protocol: TCP
      {{- with .Values.startupProbe }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/reportgate
          readOnly: true
        - name: secrets
          mountPath: /var/run/secrets/reportgate
          readOnly: true
        {{- if .Values.audit.file.enabled }}
        - name: audit
          mountPath: /var/lib/reportgate/audit
        {{- end }}
        {{- if and .Values.redis.url .Values.redis.passwordSecret.name }}
        - name: redis-password
          mountPath: /var/run/secrets/reportgate-redis
          readOnly: true
        {{- end }}
        {{- if and .Values.redis.url .Values.redis.caSecret.name }}
        - name: redis-ca
          mountPath: /var/run/secrets/reportgate-redis-ca
          readOnly: true
        {{- end }}
        {{- if .Values.clients.existingSecret }}
        - name: clients
          mountPath: /var/run/secrets/reportgate-clients
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "reportgate.fullname" . }}
    - name: secrets
      secret:
        secretName: {{ include "reportgate.secretName" . }}
    {{- if and .Values.redis.url .Values.redis.passwordSecret.name }}
    - name: redis-password
      secret:
        secretName: {{ .Values.redis.passwordSecret.name }}
        items:
          - key: {{ .Values.redis.passwordSecret.key }}
            path: password
    {{- end }}
    {{- if and .Values.redis.url .Values.redis.caSecret.name }}
    - name: redis-ca
      secret:
        secretName: {{ .Values.redis.caSecret.name }}
        items:
          - key: {{ .Values.redis.caSecret.key }}
            path: ca.crt
    {{- end }}
    {{- if .Values.clients.existingSecret }}
    - name: clients
      secret:
        secretName: {{ .Values.clients.existingSecret }}
        items:
          - key: {{ .Values.clients.key }}
            path: clients.yaml
    {{- end }}
    {{- if and .Values.audit.file.enabled (not (include "reportgate.statefulSet" .)) }}
    - name: audit
      emptyDir:
        sizeLimit: {{ .Values.audit.file.size }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
