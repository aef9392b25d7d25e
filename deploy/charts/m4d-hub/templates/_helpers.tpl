{{- define "m4d-hub.labels" -}}
app.kubernetes.io/name: m4d-hub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "m4d-hub.selector" -}}
app.kubernetes.io/name: m4d-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "m4d-hub.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
