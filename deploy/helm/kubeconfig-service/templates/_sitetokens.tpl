{{/*
siteTokens: tokens on request (POST /sites/NAME/token, which the exec credential
plugin asks). publicURL, maxExpirationSeconds and requestsPerMinute become serve
flags (kubeconfig-service.siteTokensArgs, in kubeconfig-service.args); each of
grants renders a Role and a RoleBinding (site-tokens-rbac.yaml). The names and
the checks are here.
*/}}

{{/*
The shape of siteTokens.publicURL: http(s)://HOST[:PORT][/PATH], with no user,
query or fragment (the plugin appends /sites/NAME/token to it). The same as
values.schema.json's pattern, there with "or empty". Which scheme is allowed
(https, or http to a loopback address only, as the binary allows: the plugin
sends tokens to it) is checked by the templates alone, to say why.
*/}}
{{- define "kubeconfig-service.publicURLPattern" -}}
^https?://([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^\s?#]*)?$
{{- end }}

{{/*
The serve flags of siteTokens, with auth: kubernetes only (the one mode with
POST /sites/NAME/token): both limits always, as the chart passes its other
settings; --public-url when set.
*/}}
{{- define "kubeconfig-service.siteTokensArgs" -}}
{{- $section := .Values.siteTokens }}
{{- if not (kindIs "map" $section) }}
{{- $section = dict }}
{{- end }}
{{- if eq .Values.auth "kubernetes" }}
- --max-credential-expiration
- {{ kindIs "invalid" $section.maxExpirationSeconds | ternary 3600 $section.maxExpirationSeconds | int | quote }}
- --credential-requests-per-minute
- {{ kindIs "invalid" $section.requestsPerMinute | ternary 30 $section.requestsPerMinute | int | quote }}
{{- with $section.publicURL }}
- --public-url
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A grant's Role and RoleBinding: "<fullname>-site-tokens-<name>", the full name
shortened to keep it within 63 characters: (dict "root" . "name" "edge-1-operators").
*/}}
{{- define "kubeconfig-service.siteTokensName" -}}
{{- include "kubeconfig-service.derivedName" (dict "root" .root "suffix" (printf "site-tokens-%s" .name)) }}
{{- end }}

{{/*
"true" when a site name is one POST /sites/NAME/token can name: a DNS-1123
subdomain (what PUT /sites/NAME registers: at most 253 characters, labels of at
most 63 lowercase letters, digits and inner '-', joined by '.'), or the central
site's location (which may also have capitals and '_'): (dict "root" . "site" "edge-1").
*/}}
{{- define "kubeconfig-service.isSiteName" -}}
{{- $site := .site }}
{{- if eq $site (toString .root.Values.location) }}true
{{- else if and (le (len $site) 253) (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $site) }}
{{- $long := false }}
{{- range splitList "." $site }}
{{- if gt (len .) 63 }}{{ $long = true }}{{ end }}
{{- end }}
{{- if not $long }}true{{ end }}
{{- end }}
{{- end }}

{{/*
Checks of siteTokens.* (also for installs that skip the schema), and the ones
between values: publicURL and grants need auth: kubernetes, the only mode with
the route. siteTokens may be absent (a release upgraded with --reuse-values
from before it existed), and so may its settings: the binary's defaults, no
grants.
*/}}
{{- define "kubeconfig-service.validateSiteTokens" -}}
{{- $section := .Values.siteTokens | default dict }}
{{- if not (kindIs "map" $section) }}
{{- fail (printf "siteTokens must be a map (publicURL, maxExpirationSeconds, requestsPerMinute, grants), not %s" (kindOf $section)) }}
{{- end }}
{{- /* Absent or null: the binary's default. */}}
{{- $max := kindIs "invalid" $section.maxExpirationSeconds | ternary 3600 $section.maxExpirationSeconds }}
{{- if or (lt (int $max) 600) (gt (int $max) 86400) }}
{{- fail (printf "siteTokens.maxExpirationSeconds must be between 600 (TokenRequest's minimum) and 86400 seconds, not %v" $max) }}
{{- end }}
{{- $perMinute := kindIs "invalid" $section.requestsPerMinute | ternary 30 $section.requestsPerMinute }}
{{- if or (lt (int $perMinute) 1) (gt (int $perMinute) 10000) }}
{{- fail (printf "siteTokens.requestsPerMinute must be between 1 and 10000, not %v" $perMinute) }}
{{- end }}
{{- $publicURL := kindIs "invalid" $section.publicURL | ternary "" $section.publicURL }}
{{- if not (kindIs "string" $publicURL) }}
{{- fail (printf "siteTokens.publicURL must be a URL as a string (https://HOST[:PORT][/PATH]) or empty, not %v" $publicURL) }}
{{- end }}
{{- if $publicURL }}
{{- if ne .Values.auth "kubernetes" }}
{{- fail "siteTokens.publicURL applies only with auth: kubernetes (with auth: none there is no POST /sites/NAME/token route for the exec kubeconfig's plugin to ask): set auth: kubernetes or leave publicURL empty" }}
{{- end }}
{{- if not (regexMatch (include "kubeconfig-service.publicURLPattern" .) $publicURL) }}
{{- fail (printf "siteTokens.publicURL %q must be the URL callers reach the service at, https://HOST[:PORT][/PATH], with no user, query or fragment (the plugin appends /sites/NAME/token to it)" $publicURL) }}
{{- end }}
{{- if and (hasPrefix "http://" $publicURL) (not (regexMatch "^http://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:|/|$)" $publicURL)) }}
{{- fail (printf "siteTokens.publicURL %q must be an https:// URL: the exec credential plugin sends each caller's token to it (http:// only to 127.0.0.1, localhost or [::1], e.g. through kubectl port-forward)" $publicURL) }}
{{- end }}
{{- end }}
{{- $grants := $section.grants | default list }}
{{- if not (kindIs "slice" $grants) }}
{{- fail (printf "siteTokens.grants must be a list of grants, each {name, sites, subjects}, not %s" (kindOf $grants)) }}
{{- end }}
{{- if and $grants (ne .Values.auth "kubernetes") }}
{{- fail "siteTokens.grants apply only with auth: kubernetes (with auth: none the service reviews no caller and has no POST /sites/NAME/token route): set auth: kubernetes or remove the grants" }}
{{- end }}
{{- $names := list }}
{{- range $index, $grant := $grants }}
{{- $at := printf "siteTokens.grants[%d]" $index }}
{{- if not (kindIs "map" $grant) }}
{{- fail (printf "%s must be a map with name, sites and subjects, not %s" $at (kindOf $grant)) }}
{{- end }}
{{- $name := $grant.name }}
{{- if not $name }}
{{- fail (printf "%s.name is required: it names the grant's Role and RoleBinding (<fullname>-site-tokens-<name>), e.g. name: edge-1-operators" $at) }}
{{- end }}
{{- if or (not (kindIs "string" $name)) (gt (len (toString $name)) 40) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" (toString $name))) }}
{{- fail (printf "%s.name must be a DNS-1123 label of at most 40 characters (lowercase letters, digits and '-', starting and ending with a letter or digit), not %q" $at (toString $name)) }}
{{- end }}
{{- if has $name $names }}
{{- fail (printf "%s.name %q is taken by an earlier grant: each grant's Role and RoleBinding are named after it, so rename one or merge the two grants' sites and subjects into one" $at $name) }}
{{- end }}
{{- $names = append $names $name }}
{{- $sites := $grant.sites }}
{{- if not (kindIs "slice" $sites) }}
{{- $sites = list }}
{{- end }}
{{- if not $sites }}
{{- fail (printf "%s (%s) must list at least one site in sites, e.g. sites: [edge-1]: a Role without resourceNames would let its subjects ask for every site's tokens" $at $name) }}
{{- end }}
{{- range $i, $site := $sites }}
{{- if not (kindIs "string" $site) }}
{{- fail (printf "%s.sites[%d] must be a site name as a string, not %v: quote it in YAML, or pass it with --set-string" $at $i $site) }}
{{- end }}
{{- if not (include "kubeconfig-service.isSiteName" (dict "root" $ "site" $site)) }}
{{- fail (printf "%s.sites[%d] %q is not a site name the service accepts: a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' and '.', each label at most 63 characters, starting and ending with a letter or digit) or the central site's location (%q)" $at $i $site (toString $.Values.location)) }}
{{- end }}
{{- end }}
{{- if ne (len (uniq $sites)) (len $sites) }}
{{- fail (printf "%s (%s) lists a site more than once in sites: list each once" $at $name) }}
{{- end }}
{{- $subjects := $grant.subjects }}
{{- if not (kindIs "slice" $subjects) }}
{{- $subjects = list }}
{{- end }}
{{- if not $subjects }}
{{- fail (printf "%s (%s) must list at least one subject in subjects (kind User, Group or ServiceAccount, and name): the RoleBinding grants the sites' tokens to them" $at $name) }}
{{- end }}
{{- range $i, $subject := $subjects }}
{{- $where := printf "%s.subjects[%d]" $at $i }}
{{- if or (not (kindIs "map" $subject)) (not $subject.kind) (not $subject.name) }}
{{- fail (printf "%s needs a kind (User, Group or ServiceAccount) and a name, e.g. {kind: Group, name: edge-1-operators}" $where) }}
{{- end }}
{{- if not (has $subject.kind (list "User" "Group" "ServiceAccount")) }}
{{- fail (printf "%s.kind must be User, Group or ServiceAccount, not %q" $where (toString $subject.kind)) }}
{{- end }}
{{- $group := eq $subject.kind "ServiceAccount" | ternary "" "rbac.authorization.k8s.io" }}
{{- if and (hasKey $subject "apiGroup") (ne (toString $subject.apiGroup) $group) }}
{{- fail (printf "%s.apiGroup must be %q for a %s (or left out), not %q" $where $group $subject.kind (toString $subject.apiGroup)) }}
{{- end }}
{{- if and $subject.namespace (ne $subject.kind "ServiceAccount") }}
{{- fail (printf "%s.namespace applies only to a ServiceAccount, not to a %s: leave it out" $where $subject.kind) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
