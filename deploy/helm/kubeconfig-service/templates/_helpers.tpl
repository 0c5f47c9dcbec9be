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
The dedicated ServiceAccount whose token deployment mode publishes when
credentials.serviceAccount is empty.
*/}}
{{- define "kubeconfig-service.deployerName" -}}
{{- include "kubeconfig-service.derivedName" (dict "root" . "suffix" "deployer") }}
{{- end }}

{{/*
"true" when the chart creates that dedicated account.
*/}}
{{- define "kubeconfig-service.createDeployer" -}}
{{- if and (eq .Values.mode "deployment") (not .Values.credentials.serviceAccount) }}true{{ end }}
{{- end }}

{{/*
The ServiceAccount whose token the service requests and publishes
(--token-service-account): always one in deployment mode, the dedicated account
unless credentials.serviceAccount names another; in sidecar mode only
credentials.serviceAccount, empty otherwise (the pod's own token is published).
*/}}
{{- define "kubeconfig-service.tokenServiceAccount" -}}
{{- if include "kubeconfig-service.createDeployer" . }}
{{- include "kubeconfig-service.deployerName" . }}
{{- else }}
{{- .Values.credentials.serviceAccount }}
{{- end }}
{{- end }}

{{/*
The object that holds the document: its resource (for RBAC), kind, name and key.
*/}}
{{- define "kubeconfig-service.documentResource" -}}
{{- eq .Values.storage "secret" | ternary "secrets" "configmaps" }}
{{- end }}

{{- define "kubeconfig-service.documentKind" -}}
{{- eq .Values.storage "secret" | ternary "Secret" "ConfigMap" }}
{{- end }}

{{- define "kubeconfig-service.documentName" -}}
{{- eq .Values.storage "secret" | ternary .Values.secret.name .Values.configMap.name }}
{{- end }}

{{- define "kubeconfig-service.documentKey" -}}
{{- eq .Values.storage "secret" | ternary .Values.secret.key .Values.configMap.key }}
{{- end }}

{{/*
The Secret that keeps the managed sites' bootstrap credentials
(--credentials-secret): siteCredentials.secretName, or "<fullname>-site-credentials";
empty when siteCredentials.enabled is false.
*/}}
{{- define "kubeconfig-service.siteCredentialsSecret" -}}
{{- if .Values.siteCredentials.enabled }}
{{- .Values.siteCredentials.secretName | default (include "kubeconfig-service.derivedName" (dict "root" . "suffix" "site-credentials")) }}
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
schema (--skip-schema-validation), and checks between values. Included by
configmap.yaml, which always renders.
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
{{- if not (has .Values.storage (list "configMap" "secret")) }}
{{- fail (printf "storage must be configMap or secret, not %q" (toString .Values.storage)) }}
{{- end }}
{{- if lt (int .Values.credentials.expirationSeconds) 600 }}
{{- fail (printf "credentials.expirationSeconds must be at least 600, not %v" .Values.credentials.expirationSeconds) }}
{{- end }}
{{- /* Checks between values, which the schema does not express. */}}
{{- $token := include "kubeconfig-service.tokenServiceAccount" . }}
{{- if and (eq .Values.mode "deployment") (eq $token (include "kubeconfig-service.serviceAccountName" .)) }}
{{- fail (printf "credentials.serviceAccount must name the consumer's account (Cloudify Manager's), not the service's own %q: deployment mode publishes another identity's token" $token) }}
{{- end }}
{{- if and .Values.credentials.clusterRole (not (include "kubeconfig-service.createDeployer" .)) }}
{{- fail "credentials.clusterRole is bound only to the account the chart creates (deployment mode, credentials.serviceAccount empty); grant rights to another account where that account is managed" }}
{{- end }}
{{- if and $token (gt (len (toString .Values.location)) 57) }}
{{- fail (printf "location must be at most 57 characters with an issued token (its expiry is recorded in an annotation named after it), not %d" (len (toString .Values.location))) }}
{{- end }}
{{- if and .Values.authTokenAudiences (ne .Values.auth "kubernetes") }}
{{- fail "authTokenAudiences apply only with auth: kubernetes (with auth: none no token is checked)" }}
{{- end }}
{{- if and .Values.credentials.audiences (not $token) }}
{{- fail "credentials.audiences apply only to issued tokens: in sidecar mode, set credentials.serviceAccount too" }}
{{- end }}
{{- if lt (int .Values.siteProbes.interval) 0 }}
{{- fail (printf "siteProbes.interval must be 0 or more seconds, not %v" .Values.siteProbes.interval) }}
{{- end }}
{{- if or (lt (int .Values.siteProbes.concurrency) 1) (gt (int .Values.siteProbes.concurrency) 64) }}
{{- fail (printf "siteProbes.concurrency must be between 1 and 64, not %v" .Values.siteProbes.concurrency) }}
{{- end }}
{{- if or (lt (int .Values.siteCredentials.credentialGracePeriod) 2) (gt (int .Values.siteCredentials.credentialGracePeriod) 3600) }}
{{- fail (printf "siteCredentials.credentialGracePeriod must be between 2 and 3600 seconds, not %v" .Values.siteCredentials.credentialGracePeriod) }}
{{- end }}
{{- $credentials := include "kubeconfig-service.siteCredentialsSecret" . }}
{{- if and $credentials (eq .Values.storage "secret") (eq $credentials .Values.secret.name) }}
{{- fail (printf "siteCredentials.secretName must not be the document's Secret (secret.name %q): the bootstrap credentials are kept apart from the shared document, which readers of GET /kubeconfig see" $credentials) }}
{{- end }}
{{- if .Values.prometheusRule.enabled }}
{{- include "kubeconfig-service.validateAlerts" . }}
{{- end }}
{{- include "kubeconfig-service.validateSiteTokens" . }}
{{- include "kubeconfig-service.validateSinks" . }}
{{- end }}

{{/*
The audiences callers' tokens must be issued for (--auth-token-audience), as a
JSON list: authTokenAudiences, or by default (null) the release's full name;
none without auth: kubernetes.
*/}}
{{- define "kubeconfig-service.authTokenAudiences" -}}
{{- if ne .Values.auth "kubernetes" }}
{{- list | toJson }}
{{- else if kindIs "invalid" .Values.authTokenAudiences }}
{{- list (include "kubeconfig-service.fullname" .) | toJson }}
{{- else }}
{{- .Values.authTokenAudiences | toJson }}
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
{{- if eq .Values.storage "secret" }}
- --secret
{{- else }}
- --configmap
{{- end }}
- {{ include "kubeconfig-service.documentName" . | quote }}
- --key
- {{ include "kubeconfig-service.documentKey" . | quote }}
{{- with include "kubeconfig-service.tokenServiceAccount" . }}
- --token-service-account
- {{ . | quote }}
- --token-expiration
- {{ $.Values.credentials.expirationSeconds | int | quote }}
{{- range $.Values.credentials.audiences }}
- --token-audience
- {{ . | quote }}
{{- end }}
{{- end }}
- --address
- "0.0.0.0"
- --port
- {{ .Values.port | int | quote }}
- --auth
- {{ .Values.auth | quote }}
{{- range include "kubeconfig-service.authTokenAudiences" . | fromJsonArray }}
- --auth-token-audience
- {{ . | quote }}
{{- end }}
- --refresh-interval
- {{ .Values.refreshInterval | int | quote }}
{{- /* Watching is the service's default (--watch): only turning it off takes a flag. */}}
{{- if not .Values.watch.enabled }}
- --no-watch
{{- end }}
- --site-probe-interval
- {{ .Values.siteProbes.interval | int | quote }}
- --site-probe-concurrency
- {{ .Values.siteProbes.concurrency | int | quote }}
{{- with include "kubeconfig-service.siteCredentialsSecret" . }}
- --credentials-secret
- {{ . | quote }}
- --credential-grace-period
- {{ $.Values.siteCredentials.credentialGracePeriod | int | quote }}
{{- end }}
{{- include "kubeconfig-service.siteTokensArgs" . }}
{{- include "kubeconfig-service.sinksArgs" . }}
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
