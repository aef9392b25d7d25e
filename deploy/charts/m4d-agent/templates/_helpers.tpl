{{- define "m4d-agent.labels" -}}
app.kubernetes.io/name: m4d-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "m4d-agent.selector" -}}
app.kubernetes.io/name: m4d-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "m4d-agent.hubSecret" -}}
{{ .Values.hub.existingSecret | default "m4d-hub-connection" }}
{{- end }}
