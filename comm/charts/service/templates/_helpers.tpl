{{- define "service.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "service.labels" -}}
app.kubernetes.io/name: {{ include "service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "service.selector" -}}
app.kubernetes.io/name: {{ include "service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* The container's ports, as a YAML list of {name, containerPort,
  servicePort, protocol}: `ports` when given, else one port named http on
  `containerPort` (served on service.port), else none (a worker). */ -}}
{{- define "service.ports" -}}
{{- if .Values.ports }}
{{- range .Values.ports }}
- name: {{ required "each of ports needs a name" .name }}
  containerPort: {{ required "each of ports needs a containerPort" .containerPort }}
  servicePort: {{ .servicePort | default .containerPort }}
  protocol: {{ .protocol | default "TCP" }}
{{- end }}
{{- else if .Values.containerPort }}
- name: http
  containerPort: {{ .Values.containerPort }}
  servicePort: {{ .Values.service.port }}
  protocol: TCP
{{- else -}}
[]
{{- end }}
{{- end -}}

{{- /* The port a probe checks: probes.port (a name or a number), else the
  first port. `number`: as a number (what a gRPC probe needs). */ -}}
{{- define "service.probePort" -}}
{{- $ports := include "service.ports" .root | fromYamlArray -}}
{{- $want := .root.Values.probes.port | toString -}}
{{- $port := first $ports -}}
{{- range $ports }}{{ if or (eq .name $want) (eq (toString .containerPort) $want) }}{{ $port = . }}{{ end }}{{ end -}}
{{- if and $want (not (regexMatch "^[0-9]+$" $want)) (ne $port.name $want) -}}
{{- fail (printf "probes.port %q names none of the ports" $want) -}}
{{- end -}}
{{- if .number -}}
{{- if regexMatch "^[0-9]+$" $want }}{{ $want }}{{ else }}{{ $port.containerPort }}{{ end -}}
{{- else -}}
{{- if $want }}{{ $want }}{{ else }}{{ $port.name }}{{ end -}}
{{- end -}}
{{- end -}}

{{- /* One probe's check: http (a path), grpc (gRPC health checking), tcp
  (the port accepts), exec (a command exits 0). */ -}}
{{- define "service.probe" -}}
{{- $p := .root.Values.probes -}}
{{- if eq $p.type "http" -}}
httpGet:
  path: {{ .path }}
  port: {{ include "service.probePort" (dict "root" .root) }}
{{- else if eq $p.type "grpc" -}}
grpc:
  port: {{ include "service.probePort" (dict "root" .root "number" true) }}
  {{- with $p.grpcService }}
  service: {{ . | quote }}
  {{- end }}
{{- else if eq $p.type "tcp" -}}
tcpSocket:
  port: {{ include "service.probePort" (dict "root" .root) }}
{{- else if eq $p.type "exec" -}}
exec:
  command:
    {{- toYaml (required "probes.type exec needs probes.command" $p.command) | nindent 4 }}
{{- else -}}
{{- fail (printf "probes.type must be http, grpc, tcp, exec or none, not %q" $p.type) -}}
{{- end -}}
{{- end -}}

{{- /* Whether the container has probes: not `none`, and a port to check
  unless the check is a command (a worker with no port is ready once it
  runs). */ -}}
{{- define "service.probed" -}}
{{- $ports := include "service.ports" . | fromYamlArray -}}
{{- if and (ne .Values.probes.type "none") (or $ports (eq .Values.probes.type "exec")) -}}
true
{{- end -}}
{{- end -}}

{{- /* The ServiceAccount the pods run as: the release's own when created. */ -}}
{{- define "service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "service.name" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
