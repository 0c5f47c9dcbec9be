{{/*
The alerts of the PrometheusRule (prometheusrule.yaml). The rule groups are
built here, apart from the object around them, so that they are exactly a
Prometheus rules file's `groups:`: Tests/deploy checks them with `promtool
check rules` and `promtool test rules`, and deploy/docs/ALERTS.md shows how to
render them for a Prometheus without the operator.
*/}}

{{/*
A Prometheus duration (5m, 1h30m, 7d; units y w d h m s, in that order) in
seconds: (dict "name" "prometheusRule.x.window" "value" "5m").
*/}}
{{- define "kubeconfig-service.durationSeconds" -}}
{{- $value := toString .value }}
{{- if not (regexMatch "^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?)$" $value) }}
{{- fail (printf "%s must be a Prometheus duration such as 5m, 1h30m or 7d, not %q" .name $value) }}
{{- end }}
{{- if eq $value "" }}
{{- fail (printf "%s must be a Prometheus duration such as 5m, 1h30m or 7d, not empty" .name) }}
{{- end }}
{{- $unit := dict "y" 31536000 "w" 604800 "d" 86400 "h" 3600 "m" 60 "s" 1 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+[ywdhms]" $value -1 }}
{{- $total = add $total (mul (atoi (regexFind "^[0-9]+" .)) (get $unit (regexFind "[ywdhms]$" .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Checks of prometheusRule.* (also for installs that skip the schema), and the
one between values: the published token's window below its renewal point.
*/}}
{{- define "kubeconfig-service.validateAlerts" -}}
{{- $rule := .Values.prometheusRule }}
{{- if $rule.interval }}
{{- if le (include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.interval" "value" $rule.interval) | int) 0 }}
{{- fail "prometheusRule.interval must be more than 0 (or empty)" }}
{{- end }}
{{- end }}
{{- range $name := list "siteDown" "siteCertificateExpiry" "siteTokenExpiry" "publishedTokenExpiry" "publicationsFailing" "publicationStale" "managedSitesNotRenewing" "siteCredentialsRepaired" "siteBootstrapExpiry" "siteBootstrapNotRenewing" }}
{{- $alert := get $rule $name }}
{{- $_ := include "kubeconfig-service.durationSeconds" (dict "name" (printf "prometheusRule.%s.for" $name) "value" $alert.for) }}
{{- if hasKey $alert "window" }}
{{- if le (include "kubeconfig-service.durationSeconds" (dict "name" (printf "prometheusRule.%s.window" $name) "value" $alert.window) | int) 0 }}
{{- fail (printf "prometheusRule.%s.window must be more than 0" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if lt (int $rule.publicationStale.refreshIntervals) 1 }}
{{- fail (printf "prometheusRule.publicationStale.refreshIntervals must be at least 1, not %v" $rule.publicationStale.refreshIntervals) }}
{{- end }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.publishedTokenExpiry.window" "value" $rule.publishedTokenExpiry.window) | int }}
{{- if and $rule.publishedTokenExpiry.enabled (include "kubeconfig-service.tokenServiceAccount" .) (ge (mul $window 5) (int .Values.credentials.expirationSeconds)) }}
{{- fail (printf "prometheusRule.publishedTokenExpiry.window (%s = %ds) must be below 20%% of credentials.expirationSeconds (%d): the service renews the token when 20 to 25%% of its lifetime remains, so the alert would fire for every healthy token" $rule.publishedTokenExpiry.window $window (int .Values.credentials.expirationSeconds)) }}
{{- end }}
{{- end }}

{{/*
A series selector with prometheusRule.seriesSelector's matchers added:
(dict "root" . "metric" "kubeconfig_site_up" "matchers" (list `site!="x"`)).
*/}}
{{- define "kubeconfig-service.series" -}}
{{- $matchers := concat (.matchers | default list) (compact (list (trim .root.Values.prometheusRule.seriesSelector))) }}
{{- .metric }}{{ with $matchers }}{{ printf "{%s}" (join "," .) }}{{ end }}
{{- end }}

{{/*
One alerting rule as YAML: (dict "root" . "alert" "Name" "key" "x" "config"
.Values.prometheusRule.x "expr" "..." "summary" "..." "description" "...").
*/}}
{{- define "kubeconfig-service.alertRule" -}}
{{- $rule := .root.Values.prometheusRule }}
{{- $labels := merge (dict "severity" .config.severity) (deepCopy $rule.alertLabels) }}
{{- $annotations := dict "summary" .summary "description" .description }}
{{- with $rule.runbookUrl }}
{{- $_ := set $annotations "runbook_url" (printf "%s#%s" . (lower $.alert)) }}
{{- end }}
{{- $annotations = merge $annotations (deepCopy $rule.alertAnnotations) }}
{{- $result := dict "alert" .alert "expr" .expr "labels" $labels "annotations" $annotations }}
{{- if ne (include "kubeconfig-service.durationSeconds" (dict "name" (printf "prometheusRule.%s.for" .key) "value" .config.for)) "0" }}
{{- $_ := set $result "for" .config.for }}
{{- end }}
{{- toYaml $result }}
{{- end }}

{{/*
The rule groups: the PrometheusRule's spec.groups, and a Prometheus rules
file's `groups:`.
*/}}
{{- define "kubeconfig-service.prometheusRuleGroups" -}}
{{- $rule := .Values.prometheusRule }}
{{- $location := .Values.location }}
{{- $site := "{{ $labels.site }}" }}
{{- $rules := list }}
{{- if $rule.siteDown.enabled }}
{{- $up := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_up") }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteDown" "key" "siteDown" "config" (get $rule "siteDown")
  "expr" (printf "%s == 0" $up)
  "summary" (printf "Site %s of the published kubeconfig is down" $site)
  "description" (printf "The health probe of site %s has failed for more than %s: its API server was not reachable over TLS with the site's CA, or it rejected the site's credential. Clients of the published kubeconfig cannot use that site. Check the site's server and CA in the document, the network path (egress) from kubeconfig-service to it, and whether its token or client certificate is still valid; the service's log names the probe's error." $site $rule.siteDown.for)
  ) | fromYaml) }}
{{- end }}
{{- if $rule.siteCertificateExpiry.enabled }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_certificate_expiry_timestamp_seconds") }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.siteCertificateExpiry.window" "value" $rule.siteCertificateExpiry.window) | int }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteCertificateExpiring" "key" "siteCertificateExpiry" "config" (get $rule "siteCertificateExpiry")
  "expr" (printf "%s > 0 and %s - time() < %d" $series $series $window)
  "summary" (printf "The {{ $labels.certificate }} certificate of site %s expires within %s" $site $rule.siteCertificateExpiry.window)
  "description" (printf "The {{ $labels.certificate }} certificate of site %s in the published kubeconfig (ca: the first to expire of the site's CA bundle; client: its client certificate) expires at {{ $value | humanizeTimestamp }}. Renew it and publish the site's entry again before then: clients cannot reach or authenticate to the site with an expired one." $site)
  ) | fromYaml) }}
{{- end }}
{{- if $rule.siteTokenExpiry.enabled }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_token_expiry_timestamp_seconds" "matchers" (list (printf "site!=%q" $location))) }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.siteTokenExpiry.window" "value" $rule.siteTokenExpiry.window) | int }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteTokenExpiring" "key" "siteTokenExpiry" "config" (get $rule "siteTokenExpiry")
  "expr" (printf "%s > 0 and %s - time() < %d" $series $series $window)
  "summary" (printf "The token of site %s expires within %s" $site $rule.siteTokenExpiry.window)
  "description" (printf "The bearer token of site %s in the published kubeconfig expires at {{ $value | humanizeTimestamp }}. Issued tokens are renewed with 20 to 25%% of their lifetime left, so whatever publishes that site's entry has not renewed it: clients lose access to the site when it expires." $site)
  ) | fromYaml) }}
{{- end }}
{{- if $rule.publishedTokenExpiry.enabled }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_token_expiry_timestamp_seconds") }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.publishedTokenExpiry.window" "value" $rule.publishedTokenExpiry.window) | int }}
{{- $renewal := "the kubelet rotates the pod's token, and the service re-reads it on every refresh pass" }}
{{- with include "kubeconfig-service.tokenServiceAccount" . }}
{{- $renewal = printf "the service renews the token it requests for ServiceAccount %s/%s when 20 to 25%% of its lifetime remains; check its log, kubeconfig_token_requests_total{result=\"failed\"} and its right to create serviceaccounts/token for that account" $.Release.Namespace . }}
{{- end }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigPublishedTokenExpiring" "key" "publishedTokenExpiry" "config" (get $rule "publishedTokenExpiry")
  "expr" (printf "%s > 0 and %s - time() < %d" $series $series $window)
  "summary" (printf "The token published for site %s expires within %s" $location $rule.publishedTokenExpiry.window)
  "description" (printf "The token kubeconfig-service publishes in site %s's user entry expires at {{ $value | humanizeTimestamp }} and has not been renewed: %s." $location $renewal)
  ) | fromYaml) }}
{{- end }}
{{- if $rule.publicationsFailing.enabled }}
{{- $failed := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_publications_total" "matchers" (list `result="failed"`)) }}
{{- $succeeded := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_publications_total" "matchers" (list `result=~"changed|unchanged"`)) }}
{{- $window := $rule.publicationsFailing.window }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigPublicationsFailing" "key" "publicationsFailing" "config" (get $rule "publicationsFailing")
  "expr" (printf "sum without (result) (increase(%s[%s])) > 0 unless sum without (result) (increase(%s[%s])) > 0" $failed $window $succeeded $window)
  "summary" (printf "Publications of site %s are failing" $location)
  "description" (printf "Every publication of site %s's entry in the last %s failed: the published kubeconfig is not kept current. The service's log and GET /status (lastError) give the reason: the API server unreachable, the document's object missing, or the service's rights." $location $window)
  ) | fromYaml) }}
{{- end }}
{{- if and $rule.publicationStale.enabled (gt (int .Values.refreshInterval) 0) }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_last_success_timestamp_seconds") }}
{{- $limit := mul (int $rule.publicationStale.refreshIntervals) (int .Values.refreshInterval) }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigPublicationStale" "key" "publicationStale" "config" (get $rule "publicationStale")
  "expr" (printf "time() - (%s > 0) > %d" $series $limit)
  "summary" (printf "No successful publication of site %s for more than %s" $location (duration $limit))
  "description" (printf "The last successful publication of site %s's entry was {{ $value | humanizeDuration }} ago, more than %d refresh intervals of %ds: the periodic pass that keeps the entry current is failing or stuck. See the service's log and GET /status." $location (int $rule.publicationStale.refreshIntervals) (int .Values.refreshInterval))
  ) | fromYaml) }}
{{- end }}
{{- /* Managed sites exist only with the credentials Secret. */}}
{{- $credentials := include "kubeconfig-service.siteCredentialsSecret" . }}
{{- if and $rule.managedSitesNotRenewing.enabled $credentials }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_managed_sites_not_renewing") }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigManagedSitesNotRenewing" "key" "managedSitesNotRenewing" "config" (get $rule "managedSitesNotRenewing")
  "expr" (printf "max(%s) > 0" $series)
  "summary" "Managed remote sites are not renewing their tokens ({{ $value }})"
  "description" (printf "For more than %s, managed remote sites ({{ $value }} now, the most any replica reports) have not renewed their tokens on schedule: their renewals fail and are retried with backoff, or are stalled until someone acts. Each keeps its current token until it expires; then clients of the published kubeconfig lose that site. GET /status names each site with its error code and message (managedSites.notRenewing), GET /sites shows its renewalError. The remote API server unreachable (network, egress, the cluster down): renewals resume once it answers. The bootstrap credential refused (401 or 403: expired, revoked, or no longer allowed to create the deployer's token): mint a new one on the remote cluster and register the site again with it. SiteCredentialMissing (Secret %s/%s holds no registration for the site) or SiteConflict (the site's cluster entry in the document was edited by hand and differs from its registration): register the site again (PUT /sites/NAME)." $rule.managedSitesNotRenewing.for .Release.Namespace $credentials)
  ) | fromYaml) }}
{{- end }}
{{- if and $rule.siteCredentialsRepaired.enabled $credentials }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_credential_repairs_total") }}
{{- $window := $rule.siteCredentialsRepaired.window }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteCredentialsRepaired" "key" "siteCredentialsRepaired" "config" (get $rule "siteCredentialsRepaired")
  "expr" (printf "increase(%s[%s]) > 0" $series $window)
  "summary" (printf "Managed sites' credentials were repaired ({{ $labels.kind }}) within %s" $window)
  "description" (printf "Within the last %s the service repaired the managed sites' credentials in Secret %s/%s ({{ $labels.kind }}). orphan: a bootstrap credential that no site's token record named was removed once older than the grace period (%ds). reissued: a site's token was issued again under the site's newest registration, because the registration its record named was gone from the Secret. A repair is not an outage (both hold again: every record has its credential, every credential its site), but something made it necessary: a registration or removal was interrupted (the service killed or restarted mid-way, the API server unreachable), or someone edited the credentials Secret by hand. The service's log has a notice line naming the site and key, and GET /status counts the repairs since start (managedSites.orphansRemoved, managedSites.reissued). Look for restarts of the service and API server outages around then; if neither, find out who edits that Secret." $window .Release.Namespace $credentials (int .Values.siteCredentials.credentialGracePeriod))
  ) | fromYaml) }}
{{- end }}
{{- if and $rule.siteBootstrapExpiry.enabled $credentials }}
{{- $expiry := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_bootstrap_expiry_timestamp_seconds") }}
{{- $renewal := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_bootstrap_renewal_timestamp_seconds") }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.siteBootstrapExpiry.window" "value" $rule.siteBootstrapExpiry.window) | int }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteBootstrapExpiring" "key" "siteBootstrapExpiry" "config" (get $rule "siteBootstrapExpiry")
  "expr" (printf "%s > 0 and %s - time() < %d unless %s" $expiry $expiry $window $renewal)
  "summary" (printf "The bootstrap credential of site %s expires within %s" $site $rule.siteBootstrapExpiry.window)
  "description" (printf "The bootstrap credential of managed site %s (kept in Secret %s/%s) expires at {{ $value | humanizeTimestamp }} and is not renewed by the service: it is a pasted token, or its account may not create its own tokens (GET /sites/NAME shows bootstrapManagement static, and bootstrapRenewalError names the right it lacks). Once it lapses the site's token cannot be renewed and clients of the published kubeconfig lose the site (the site shows BootstrapExpired). Register the site again before then: kubeconfig-service site add NAME --context CTX --service URL mints a bootstrap credential that renews itself." $site .Release.Namespace $credentials)
  ) | fromYaml) }}
{{- end }}
{{- if and $rule.siteBootstrapNotRenewing.enabled $credentials }}
{{- $series := include "kubeconfig-service.series" (dict "root" . "metric" "kubeconfig_site_bootstrap_renewal_timestamp_seconds") }}
{{- $window := include "kubeconfig-service.durationSeconds" (dict "name" "prometheusRule.siteBootstrapNotRenewing.window" "value" $rule.siteBootstrapNotRenewing.window) | int }}
{{- $rules = append $rules (include "kubeconfig-service.alertRule" (dict "root" . "alert" "KubeconfigSiteBootstrapNotRenewing" "key" "siteBootstrapNotRenewing" "config" (get $rule "siteBootstrapNotRenewing")
  "expr" (printf "time() - (%s > 0) > %d" $series $window)
  "summary" (printf "The bootstrap credential of site %s is not renewing" $site)
  "description" (printf "The bootstrap credential of managed site %s renews itself at 75 to 80%% of its lifetime, but is {{ $value | humanizeDuration }} past its renewal point: its renewals fail and are retried with backoff. It stays valid until kubeconfig_site_bootstrap_expiry_timestamp_seconds{site=\"%s\"}; once it lapses the site's token cannot be renewed any more (the site shows BootstrapExpired). GET /sites/NAME shows bootstrapRenewalError: the remote API server unreachable (renewals resume once it answers), or the credential refused (register the site again: kubeconfig-service site add NAME --context CTX --service URL)." $site $site)
  ) | fromYaml) }}
{{- end }}
{{- $group := dict "name" (include "kubeconfig-service.fullname" .) "rules" $rules }}
{{- with $rule.interval }}
{{- $_ := set $group "interval" . }}
{{- end }}
{{- toYaml (list $group) }}
{{- end }}
