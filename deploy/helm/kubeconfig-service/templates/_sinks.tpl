{{/*
Sinks: besides the document, one Secret per site in a consumer's own format, in a
namespace of that consumer (deploy/docs/SINKS.md). sinks.argocd: Argo CD cluster
Secrets (--argocd-secrets, --argocd-secrets-selector); sinks.kubeconfigSecrets:
"<site>-kubeconfig" Secrets, Cluster API's convention that Flux's
kubeConfig.secretRef reads (--kubeconfig-secrets, --kubeconfig-secrets-selector);
siteLabels: the central site's labels (--site-label), which selectors and
Argo CD's and Flux's own selectors match. The flags and the checks are here; the
Role and RoleBinding in each sink namespace are sinks-rbac.yaml.
*/}}

{{/*
The sinks, as the templates read them: (list (dict "key" "argocd" "flag"
"--argocd-secrets" "what" ...)), in flag order. sinks may be absent (a release
upgraded with --reuse-values from before it existed): both off.
*/}}
{{- define "kubeconfig-service.sinkKinds" -}}
- key: argocd
  flag: --argocd-secrets
  what: Argo CD cluster Secrets
  consumer: "the namespace Argo CD is installed in (usually argocd): Argo CD reads cluster Secrets only in its own namespace"
- key: kubeconfigSecrets
  flag: --kubeconfig-secrets
  what: kubeconfig Secrets
  consumer: "the namespace of the Flux Kustomizations or HelmReleases that deploy to the sites: their kubeConfig.secretRef must name a Secret in their own namespace"
{{- end }}

{{/*
The enabled sinks as a JSON list of {key, flag, what, namespace, selector}.
*/}}
{{- define "kubeconfig-service.enabledSinks" -}}
{{- $sinks := .Values.sinks | default dict }}
{{- $enabled := list }}
{{- if kindIs "map" $sinks }}
{{- range include "kubeconfig-service.sinkKinds" . | fromYamlArray }}
{{- $sink := get $sinks .key | default dict }}
{{- if and (kindIs "map" $sink) $sink.enabled }}
{{- $enabled = append $enabled (dict "key" .key "flag" .flag "what" .what "namespace" (toString ($sink.namespace | default "")) "selector" (toString ($sink.selector | default ""))) }}
{{- end }}
{{- end }}
{{- end }}
{{- $enabled | toJson }}
{{- end }}

{{/*
The namespaces the enabled sinks write to, each once, in flag order (JSON list).
*/}}
{{- define "kubeconfig-service.sinkNamespaces" -}}
{{- $namespaces := list }}
{{- range include "kubeconfig-service.enabledSinks" . | fromJsonArray }}
{{- $namespaces = append $namespaces .namespace }}
{{- end }}
{{- $namespaces | uniq | toJson }}
{{- end }}

{{/*
The Role and RoleBinding in a sink namespace: "<fullname>-<release namespace>-sinks"
(the release namespace in it, like the auth-delegator ClusterRoleBinding's, so that
releases of one name in two namespaces never claim the same object).
*/}}
{{- define "kubeconfig-service.sinksRoleName" -}}
{{- printf "%s-%s-sinks" (include "kubeconfig-service.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The verbs the service needs on secrets in a sink namespace: read (get), list and
watch its Secrets (by label: their names are not known beforehand, and RBAC's
resourceNames cannot restrict create, nor list and watch without a name), create,
update them when their content changes, delete them when a site is
removed or no longer selected.
*/}}
{{- define "kubeconfig-service.sinkVerbs" -}}
["get", "list", "watch", "create", "update", "delete"]
{{- end }}

{{/*
The sinks' and siteLabels' serve flags.
*/}}
{{- define "kubeconfig-service.sinksArgs" -}}
{{- range include "kubeconfig-service.enabledSinks" . | fromJsonArray }}
- {{ .flag }}
- {{ .namespace | quote }}
{{- if .selector }}
- {{ printf "%s-selector" .flag }}
- {{ .selector | quote }}
{{- end }}
{{- end }}
{{- $labels := .Values.siteLabels | default dict }}
{{- range $key, $value := $labels }}
- --site-label
- {{ printf "%s=%s" $key $value | quote }}
{{- end }}
{{- end }}

{{/*
A label key: an optional prefix (a DNS-1123 subdomain of at most 253 characters)
and '/', then a name of at most 63 letters, digits, '-', '_' and '.', starting and
ending with a letter or digit. A label value: empty, or such a name.
*/}}
{{- define "kubeconfig-service.labelNamePattern" -}}
[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?
{{- end }}

{{- define "kubeconfig-service.labelKeyPattern" -}}
([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{{ include "kubeconfig-service.labelNamePattern" . }}
{{- end }}

{{/*
"true" when .key is a label key (its prefix's length checked too).
*/}}
{{- define "kubeconfig-service.isLabelKey" -}}
{{- $key := .key }}
{{- if regexMatch (printf "^%s$" (include "kubeconfig-service.labelKeyPattern" .)) $key }}
{{- if or (not (contains "/" $key)) (le (len (first (splitList "/" $key))) 253) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
A label selector as Kubernetes parses it (apimachinery's labels.Parse), as far as a
regular expression can: comma-separated requirements, each `key`, `!key`,
`key=value`, `key==value`, `key!=value`, `key in (v1,v2)` or `key notin (v1,v2)`,
with label keys and values as above.
*/}}
{{- define "kubeconfig-service.labelSelectorPattern" -}}
{{- $key := include "kubeconfig-service.labelKeyPattern" . }}
{{- $value := printf "(%s)?" (include "kubeconfig-service.labelNamePattern" .) }}
{{- $requirement := printf `\s*(!\s*%s|%s|%s\s*(==|=|!=)\s*%s|%s\s+(in|notin)\s*\(\s*%s(\s*,\s*%s)*\s*\))\s*` $key $key $key $value $key $value $value }}
{{- printf "^%s(,%s)*$" $requirement $requirement }}
{{- end }}

{{/*
Label keys the service writes on the sinks' Secrets itself, which a site label must
not replace: Argo CD's and Flux's own, the managed-by label that marks the Secrets
as the service's, and the service's own prefix.
*/}}
{{- define "kubeconfig-service.reservedLabelKeys" -}}
["app.kubernetes.io/managed-by", "argocd.argoproj.io/secret-type", "reconcile.fluxcd.io/watch"]
{{- end }}

{{/*
Checks of sinks.* and siteLabels (also for installs that skip the schema): an
enabled sink names its namespace, a DNS-1123 label that is neither the release
namespace nor one of Kubernetes' own; selectors and labels parse.
*/}}
{{- define "kubeconfig-service.validateSinks" -}}
{{- $sinks := .Values.sinks | default dict }}
{{- if not (kindIs "map" $sinks) }}
{{- fail (printf "sinks must be a map (argocd, kubeconfigSecrets), not %s" (kindOf $sinks)) }}
{{- end }}
{{- range include "kubeconfig-service.sinkKinds" . | fromYamlArray }}
{{- $at := printf "sinks.%s" .key }}
{{- $sink := get $sinks .key | default dict }}
{{- if not (kindIs "map" $sink) }}
{{- fail (printf "%s must be a map (enabled, namespace, selector), not %s" $at (kindOf $sink)) }}
{{- end }}
{{- if not (or (kindIs "invalid" $sink.enabled) (kindIs "bool" $sink.enabled)) }}
{{- fail (printf "%s.enabled must be true or false, not %v" $at $sink.enabled) }}
{{- end }}
{{- $namespace := $sink.namespace | default "" }}
{{- if not (kindIs "string" $namespace) }}
{{- fail (printf "%s.namespace must be a namespace name as a string, not %v" $at $namespace) }}
{{- end }}
{{- $selector := $sink.selector | default "" }}
{{- if not (kindIs "string" $selector) }}
{{- fail (printf "%s.selector must be a label selector as a string (e.g. \"tier=edge\"), or empty for every site, not %v" $at $selector) }}
{{- end }}
{{- if $sink.enabled }}
{{- if not $namespace }}
{{- fail (printf "%s.enabled needs %s.namespace: %s" $at $at .consumer) }}
{{- end }}
{{- if or (gt (len $namespace) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $namespace)) }}
{{- fail (printf "%s.namespace must be a namespace name (a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit), not %q" $at $namespace) }}
{{- end }}
{{- if eq $namespace $.Release.Namespace }}
{{- fail (printf "%s.namespace must not be the release namespace (%s): the service would be granted get, list, watch, create, update and delete on every Secret there, which RBAC cannot restrict to its own (the managed sites' credentials Secret and every other application's Secrets included); use the consumer's namespace, or a dedicated one where the consumer allows it (deploy/docs/SINKS.md)" $at $namespace) }}
{{- end }}
{{- if hasPrefix "kube-" $namespace }}
{{- fail (printf "%s.namespace must not be %s: namespaces starting with kube- belong to Kubernetes itself (kube-system holds bootstrap tokens and controllers' credentials), and the service would be granted get, list, watch, create, update and delete on every Secret there" $at $namespace) }}
{{- end }}
{{- if and $selector (not (regexMatch (include "kubeconfig-service.labelSelectorPattern" $) $selector)) }}
{{- fail (printf "%s.selector %q is not a label selector: comma-separated requirements over the sites' labels, each key=value, key!=value, key in (v1,v2), key notin (v1,v2), key or !key, with label keys and values (at most 63 letters, digits, '-', '_' and '.'); leave it empty for every site" $at $selector) }}
{{- end }}
{{- range regexFindAll "[-a-z0-9.]+/" $selector -1 }}
{{- if gt (len .) 254 }}
{{- fail (printf "%s.selector has a label key prefix of more than 253 characters: %q" $at (trimSuffix "/" .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $labels := .Values.siteLabels | default dict }}
{{- if not (kindIs "map" $labels) }}
{{- fail (printf "siteLabels must be a map of label keys to values (the central site's labels, e.g. {tier: central}), not %s" (kindOf $labels)) }}
{{- end }}
{{- $reserved := include "kubeconfig-service.reservedLabelKeys" . | fromJsonArray }}
{{- range $key, $value := $labels }}
{{- if not (include "kubeconfig-service.isLabelKey" (dict "key" $key)) }}
{{- fail (printf "siteLabels key %q is not a label key: an optional prefix (a DNS-1123 subdomain of at most 253 characters) and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit" $key) }}
{{- end }}
{{- if or (has $key $reserved) (hasPrefix "kubeconfig-service.onap.org/" $key) }}
{{- fail (printf "siteLabels key %q is one the service sets on the sinks' Secrets itself (%s, and keys under kubeconfig-service.onap.org/): choose another key" $key (join ", " $reserved)) }}
{{- end }}
{{- if not (kindIs "string" $value) }}
{{- fail (printf "siteLabels.%s must be a label value as a string, not %v: quote it in YAML, or pass it with --set-string" $key $value) }}
{{- end }}
{{- if and $value (not (regexMatch (printf "^%s$" (include "kubeconfig-service.labelNamePattern" $)) $value)) }}
{{- fail (printf "siteLabels.%s %q is not a label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty" $key $value) }}
{{- end }}
{{- end }}
{{- end }}
