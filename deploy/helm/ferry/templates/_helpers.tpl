{{/*
Names and labels.
*/}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferry.fullname" -}}
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

{{- define "ferry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferry
{{- end }}

{{/* selectorLabels: (list $ "worker"|"bridge") */}}
{{- define "ferry.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "ferry.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* componentLabels: (list $ "worker"|"bridge") */}}
{{- define "ferry.componentLabels" -}}
{{ include "ferry.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* serviceAccountName: (list $ "worker"|"bridge") */}}
{{- define "ferry.serviceAccountName" -}}
{{- $ := index . 0 }}
{{- $sa := (index $.Values (index . 1)).serviceAccount }}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "ferry.fullname" $) (index . 1)) $sa.name }}
{{- else }}
{{- required (printf "%s.serviceAccount.name: name the existing ServiceAccount to use, or set %s.serviceAccount.create" (index . 1) (index . 1)) $sa.name }}
{{- end }}
{{- end }}

{{- define "ferry.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
port: (list "config key" address) -> the port of a listen address from
the config, which in a pod must be on all interfaces. The config is the
one source of the ports: the container ports, probes and Services follow
it.
*/}}
{{- define "ferry.port" -}}
{{- $field := index . 0 }}
{{- $addr := index . 1 | toString }}
{{- if not (regexMatch "^(|0\\.0\\.0\\.0|\\[::\\]):[0-9]+$" $addr) }}
{{- fail (printf "config.%s is %q: in a pod it must listen on all interfaces, like 0.0.0.0:9464 (a loopback address cannot be probed or scraped; empty serves nothing the chart needs)" $field $addr) }}
{{- end }}
{{- regexFind "[0-9]+$" $addr }}
{{- end }}

{{/*
config: Ferry's config file as text. configFile (a whole file, given with
--set-file, such as the one ferry config from-terraform renders) replaces
config outright: Helm deep-merges values files, so a config given as
values would keep the defaults' example partners and topics beside yours.
Templates read it with (include "ferry.configValues" .).
*/}}
{{- define "ferry.config" -}}
{{- if .Values.configFile }}
{{- .Values.configFile }}
{{- else }}
{{- toYaml .Values.config }}
{{- end }}
{{- end }}
{{- define "ferry.configValues" -}}
{{- $c := include "ferry.config" . | fromYaml }}
{{- if hasKey $c "Error" }}
{{- fail (printf "configFile is not a YAML map: %s" $c.Error) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* The ports of the worker's and the bridge's listen addresses. */}}
{{- define "ferry.workerMetricsPort" -}}
{{- include "ferry.port" (list "metrics.worker_listen" (dig "metrics" "worker_listen" "" (include "ferry.configValues" . | fromYaml))) }}
{{- end }}
{{- define "ferry.bridgeMetricsPort" -}}
{{- include "ferry.port" (list "metrics.bridge_listen" (dig "metrics" "bridge_listen" "" (include "ferry.configValues" . | fromYaml))) }}
{{- end }}
{{- define "ferry.bridgeHTTPPort" -}}
{{- include "ferry.port" (list "bridge.listen" (dig "bridge" "listen" "" (include "ferry.configValues" . | fromYaml))) }}
{{- end }}

{{/*
seconds: a Go duration ("90s", "1m30s", "1h", "500ms") -> whole seconds,
rounded up. Templates cannot call Go's time.ParseDuration; the chart's
test checks this against it.
*/}}
{{- define "ferry.seconds" -}}
{{- $d := . | toString }}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$" $d) }}
{{- fail (printf "%q is not a duration like 20s, 1m30s or 2h" $d) }}
{{- end }}
{{- $sub := regexReplaceAll "[0-9.]+(ms|us|µs|ns)" $d "" }}
{{- $total := 0.0 }}
{{- range $unit, $factor := dict "h" 3600.0 "m" 60.0 "s" 1.0 }}
{{- range regexFindAll (printf "[0-9.]+%s" $unit) $sub -1 }}
{{- $total = addf $total (mulf (trimSuffix $unit .) $factor) }}
{{- end }}
{{- end }}
{{- if ne $sub $d }}{{ $total = addf $total 1 }}{{ end }}
{{- ceil $total | int }}
{{- end }}

{{/* The bridge's HTTP shutdown, internal/bridge.HTTPShutdownTimeout. */}}
{{- define "ferry.bridgeHTTPShutdownSeconds" -}}30{{- end }}

{{- define "ferry.configPath" -}}/etc/ferry/ferry.yaml{{- end }}
{{- define "ferry.temporalTLSDir" -}}/etc/ferry/temporal-tls{{- end }}

{{/*
env: the variables both processes get: the region, the webhooks' secrets
(the config requires every secret_env to be set in every process that
reads it), the audit anchors' signing key, Temporal's TLS settings and API key.
*/}}
{{- define "ferry.env" -}}
{{- if .Values.aws.region }}
- name: AWS_REGION
  value: {{ .Values.aws.region | quote }}
{{- end }}
{{- range $i, $w := dig "notify" "webhooks" list (include "ferry.configValues" . | fromYaml) }}
{{- if $w.secret_env }}
- name: {{ $w.secret_env }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secrets.webhooks.existingSecret: config.notify.webhooks[%d] (%s) names secret_env %s; name the Secret holding it (key %s)" $i $w.name $w.secret_env $w.secret_env) $.Values.secrets.webhooks.existingSecret }}
      key: {{ $w.secret_env }}
{{- end }}
{{- end }}
{{- with .Values.secrets.auditAnchor.existingSecret }}
- name: FERRY_AUDIT_ANCHOR_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.auditAnchor.key }}
{{- end }}
{{- $tls := .Values.temporal.tls }}
{{- if or $tls.enabled .Values.temporal.apiKey.existingSecret }}
- name: FERRY_TEMPORAL_TLS_ENABLED
  value: "true"
{{- end }}
{{- if and $tls.enabled $tls.existingSecret }}
{{- if $tls.caKey }}
- name: FERRY_TEMPORAL_TLS_CA_FILE
  value: {{ include "ferry.temporalTLSDir" . }}/{{ $tls.caKey }}
{{- end }}
{{- if or $tls.certKey $tls.keyKey }}
{{- if not (and $tls.certKey $tls.keyKey) }}
{{- fail "temporal.tls.certKey and temporal.tls.keyKey go together: both (mutual TLS) or neither" }}
{{- end }}
- name: FERRY_TEMPORAL_TLS_CERT_FILE
  value: {{ include "ferry.temporalTLSDir" . }}/{{ $tls.certKey }}
- name: FERRY_TEMPORAL_TLS_KEY_FILE
  value: {{ include "ferry.temporalTLSDir" . }}/{{ $tls.keyKey }}
{{- end }}
{{- end }}
{{- if and $tls.enabled $tls.serverName }}
- name: FERRY_TEMPORAL_TLS_SERVER_NAME
  value: {{ $tls.serverName | quote }}
{{- end }}
{{- with .Values.temporal.apiKey.existingSecret }}
- name: FERRY_TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.temporal.apiKey.key }}
{{- end }}
{{- end }}

{{/*
volume: the config file and, with TLS from a Secret, Temporal's
certificates, projected into one read-only folder (a mount nested in a
ConfigMap's would need a folder the read-only volume cannot get).
*/}}
{{- define "ferry.volume" -}}
- name: config
  projected:
    defaultMode: 0440
    sources:
      - configMap:
          name: {{ include "ferry.fullname" . }}
          items:
            - key: ferry.yaml
              path: ferry.yaml
      {{- $tls := .Values.temporal.tls }}
      {{- if and $tls.enabled $tls.existingSecret }}
      - secret:
          name: {{ $tls.existingSecret }}
          items:
            {{- range $k := list $tls.caKey $tls.certKey $tls.keyKey }}
            {{- if $k }}
            - key: {{ $k }}
              path: temporal-tls/{{ $k }}
            {{- end }}
            {{- end }}
      {{- end }}
{{- end }}

{{- define "ferry.volumeMount" -}}
- name: config
  mountPath: {{ dir (include "ferry.configPath" .) }}
  readOnly: true
{{- end }}

{{- define "ferry.checksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}
