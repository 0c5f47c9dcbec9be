{{/*
Chart name, truncated to the 63 characters of a label value.
*/}}
{{- define "kubeconfig-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed to the chart name unless
it already contains it. Truncated to 63 characters (DNS label).
*/}}
{{- define "kubeconfig-service.fullname" -}}
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

{{/*
chart label: name-version.
*/}}
{{- define "kubeconfig-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "kubeconfig-service.labels" -}}
helm.sh/chart: {{ include "kubeconfig-service.chart" . }}
{{ include "kubeconfig-service.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: onap-dcae
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "kubeconfig-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubeconfig-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
A name derived from the full name: (dict "root" . "suffix" "x").
*/}}
{{- define "kubeconfig-service.derivedName" -}}
{{- printf "%s-%s" (include "kubeconfig-service.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
{{- end }}

{{/*
The ServiceAccount the service runs as.
*/}}
{{- define "kubeconfig-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubeconfig-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the publish hook Job.
*/}}
{{- define "kubeconfig-service.hookName" -}}
{{- include "kubeconfig-service.derivedName" (dict "root" . "suffix" "publish") }}
{{- end }}

{{/*
The image of the service.
*/}}
{{- define "kubeconfig-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The curl image of the hook and the test.
*/}}
{{- define "kubeconfig-service.curlImage" -}}
{{- printf "%s:%s" .Values.hook.image.repository .Values.hook.image.tag }}
{{- end }}

{{/*
Base URL at which the hook and the test reach the service: the chart's Service
in deployment mode, sidecar.url in sidecar mode (empty when not set).
*/}}
{{- define "kubeconfig-service.url" -}}
{{- if eq .Values.mode "deployment" }}
{{- printf "http://%s:%d" (include "kubeconfig-service.fullname" .) (int .Values.port) }}
{{- else }}
{{- .Values.sidecar.url | trimSuffix "/" }}
{{- end }}
{{- end }}

{{/*
"true" when the publish hook (Job + its RBAC) is installed.
*/}}
{{- define "kubeconfig-service.hookEnabled" -}}
{{- if and .Values.hook.enabled (include "kubeconfig-service.url" .) }}true{{ end }}
{{- end }}

{{/*
"true" when the helm test Pod is installed.
*/}}
{{- define "kubeconfig-service.testEnabled" -}}
{{- if and .Values.test.enabled (include "kubeconfig-service.url" .) }}true{{ end }}
{{- end }}

{{/*
Checks that values.schema.json also enforces, for installs that skip the
schema (--skip-schema-validation). Included by every manifest template.
*/}}
{{- define "kubeconfig-service.validate" -}}
{{- if not (has .Values.mode (list "deployment" "sidecar")) }}
{{- fail (printf "mode must be deployment or sidecar, not %q" (toString .Values.mode)) }}
{{- end }}
{{- if not (has .Values.auth (list "kubernetes" "none")) }}
{{- fail (printf "auth must be kubernetes or none, not %q" (toString .Values.auth)) }}
{{- end }}
{{- if not (has .Values.logFormat (list "text" "json")) }}
{{- fail (printf "logFormat must be text or json, not %q" (toString .Values.logFormat)) }}
{{- end }}
{{- end }}

{{/*
The service's command-line arguments (kubeconfig-service serve ...).
*/}}
{{- define "kubeconfig-service.args" -}}
- serve
- --namespace
- {{ .Release.Namespace | quote }}
- --location
- {{ .Values.location | quote }}
- --user
- {{ .Values.user | quote }}
- --configmap
- {{ .Values.configMap.name | quote }}
- --key
- {{ .Values.configMap.key | quote }}
- --address
- "0.0.0.0"
- --port
- {{ .Values.port | int | quote }}
- --auth
- {{ .Values.auth | quote }}
- --refresh-interval
- {{ .Values.refreshInterval | int | quote }}
- --log-format
- {{ .Values.logFormat | quote }}
- --log-level
- {{ .Values.logLevel | quote }}
- --threads
- {{ .Values.threads | int | quote }}
{{- if not (kindIs "invalid" .Values.apiTimeout) }}
- --api-timeout
- {{ .Values.apiTimeout | toString | quote }}
{{- end }}
{{- end }}

{{/*
The service's container: used by the Deployment and, in sidecar mode, printed
by NOTES.txt for the Cloudify Manager pod.
*/}}
{{- define "kubeconfig-service.container" -}}
name: kubeconfig-service
image: {{ include "kubeconfig-service.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  {{- include "kubeconfig-service.args" . | nindent 2 }}
ports:
  - name: {{ eq .Values.mode "sidecar" | ternary "kubeconfig" "http" }}
    containerPort: {{ .Values.port | int }}
    protocol: TCP
startupProbe:
  httpGet:
    path: /livez
    port: {{ .Values.port | int }}
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
readinessProbe:
  httpGet:
    path: /healthz
    port: {{ .Values.port | int }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /livez
    port: {{ .Values.port | int }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{/*
Labels of the hook and test Pods: the release's labels but a different
app.kubernetes.io/name, so that neither the Service nor the Deployment's
ReplicaSet (which adopts orphan Pods matching its selector) ever selects them.
(dict "root" . "component" "publish-hook")
*/}}
{{- define "kubeconfig-service.auxPodLabels" -}}
helm.sh/chart: {{ include "kubeconfig-service.chart" .root }}
app.kubernetes.io/name: {{ printf "%s-%s" (include "kubeconfig-service.name" .root | trunc 40 | trimSuffix "-") .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: onap-dcae
app.kubernetes.io/component: {{ .component }}
{{- end }}
