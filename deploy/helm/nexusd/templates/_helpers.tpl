{{/* The release's name for its objects: the release name when it holds the chart's. */}}
{{- define "nexusd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexusd.headless" -}}
{{- printf "%s-headless" (include "nexusd.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexusd.app" -}}
{{- printf "%s-example-app" (include "nexusd.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexusd.secretName" -}}
{{- if .Values.clusterKey.existingSecret -}}
{{- .Values.clusterKey.existingSecret -}}
{{- else -}}
{{- printf "%s-cluster-key" (include "nexusd.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexusd.hasKey" -}}
{{- if or .Values.clusterKey.existingSecret .Values.clusterKey.create -}}true{{- end -}}
{{- end -}}

{{- define "nexusd.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "nexusd.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pods of the mesh, whatever their shape, carry this (besides nexusd.labels). */}}
{{- define "nexusd.meshLabels" -}}
nexusd.io/cluster: {{ .Values.cluster | quote }}
{{- end -}}

{{/* The nexusd container, the same in both shapes. */}}
{{- define "nexusd.container" -}}
- name: nexusd
  image: {{ include "nexusd.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - --cluster
    - {{ .Values.cluster | quote }}
    {{- if include "nexusd.hasKey" . }}
    - --cluster-key
    - {{ printf "%s/%s" .Values.clusterKey.mountPath .Values.clusterKey.secretKey | quote }}
    {{- end }}
    - --mcast-addr
    - "off"
    - --peers
    - {{ join "," (prepend .Values.peers.extra (printf "%s.%s.svc:%v" (include "nexusd.headless" .) .Release.Namespace .Values.peers.port)) | quote }}
    - --mcast-port
    - {{ .Values.peers.port | quote }}
    - --app-socket
    - {{ printf "%s/%s" .Values.socket.dir .Values.socket.name | quote }}
    - --app-port
    - "off"
    - --http-addr
    - {{ printf "0.0.0.0:%v" .Values.admin.port | quote }}
    - --max-buffer-bytes
    - {{ .Values.maxBufferBytes | quote }}
    - --log-format
    - {{ .Values.logFormat | quote }}
    {{- range .Values.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    - name: NEXUSD_ADVERTISE_ADDR
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: GOMEMLIMIT
      value: {{ .Values.goMemLimit | quote }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: discovery
      containerPort: {{ .Values.peers.port }}
      protocol: UDP
    - name: mesh
      containerPort: 5671
      protocol: TCP
    - name: admin
      containerPort: {{ .Values.admin.port }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: {{ .Values.probes.liveness.path }}
      port: admin
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: {{ .Values.probes.readiness.path }}
      port: admin
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- if include "nexusd.hasKey" . }}
    - name: cluster-key
      mountPath: {{ .Values.clusterKey.mountPath }}
      readOnly: true
    {{- end }}
    - name: socket
      mountPath: {{ .Values.socket.dir }}
{{- end -}}

{{/* The cluster key volume. */}}
{{- define "nexusd.keyVolume" -}}
{{- if include "nexusd.hasKey" . -}}
- name: cluster-key
  secret:
    secretName: {{ include "nexusd.secretName" . }}
    defaultMode: {{ .Values.clusterKey.defaultMode }}
    items:
      - key: {{ .Values.clusterKey.secretKey }}
        path: {{ .Values.clusterKey.secretKey }}
{{- end -}}
{{- end -}}

{{/* Pod-level settings both shapes share. */}}
{{- define "nexusd.podSpecCommon" -}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
