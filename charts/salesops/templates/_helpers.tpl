{{/*
Names and labels come from the release, so that two releases can share a namespace.
With release name `salesops` (or fullnameOverride=salesops) the names are the ones the
salesops CLI expects (salesops-db, salesops-mlflow, ...); see NOTES.txt.
*/}}

{{- define "salesops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "salesops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "salesops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels of every object: pass (dict "context" $ "component" "database"). */}}
{{- define "salesops.labels" -}}
helm.sh/chart: {{ include "salesops.chart" .context }}
{{ include "salesops.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end -}}

{{/* What Services and workloads select on; never change it on upgrade (selectors are immutable). */}}
{{- define "salesops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "salesops.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "salesops.serviceAccountName" -}}{{ include "salesops.fullname" . }}{{- end -}}
{{- define "salesops.postgresName" -}}{{ include "salesops.fullname" . }}-postgres{{- end -}}
{{- define "salesops.mlflowName" -}}{{ include "salesops.fullname" . }}-mlflow{{- end -}}
{{- define "salesops.dataClaimName" -}}{{ include "salesops.fullname" . }}-data{{- end -}}
{{- define "salesops.featureStoreName" -}}{{ include "salesops.fullname" . }}-feature-store{{- end -}}
{{- define "salesops.postgresHost" -}}
{{- include "salesops.postgresName" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* The database user and database: fixed, as salesops' own pods assume (names.DB_USER). */}}
{{- define "salesops.dbUser" -}}salesops{{- end -}}
{{- define "salesops.dbName" -}}salesops{{- end -}}

{{/* The Secret every pod reads its credentials from: database.existingSecret, else ours. */}}
{{- define "salesops.secretName" -}}
{{- default (printf "%s-db" (include "salesops.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{/*
The database password of the Secret this chart creates, in this order:
  1. database.password, when set (URL-safe, by values.schema.json: every pod, salesops' own
     too, expands it into a database URL as it is);
  2. the password of the Secret a previous install created (`lookup`), so that an upgrade
     keeps the password Postgres was initialised with;
  3. a new random one (randAlphaNum: URL-safe), unless database.generatePassword is false,
     in which case the install fails: GitOps tools render with `helm template`, where
     `lookup` finds nothing and every sync would change the password.
Not called when database.existingSecret is set.
*/}}
{{- define "salesops.password" -}}
{{- $db := .Values.database -}}
{{- if $db.password -}}
{{- $db.password -}}
{{- else -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace (include "salesops.secretName" .) | default dict -}}
{{- $data := $live.data | default dict -}}
{{- if $data.password -}}
{{- $data.password | b64dec -}}
{{- else if $db.generatePassword -}}
{{- randAlphaNum 32 -}}
{{- else -}}
{{- required "database.existingSecret or database.password is required when database.generatePassword is false" $db.password -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A secretKeyRef env entry: (dict "context" $ "env" "POSTGRES_USER" "key" "username"). */}}
{{- define "salesops.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      key: {{ .key }}
      name: {{ include "salesops.secretName" .context }}
{{- end -}}

{{- define "salesops.image" -}}
{{- $image := .image -}}
{{- printf "%s:%s" (required (printf "%s.repository is required" .path) $image.repository) (toString (default .context.Chart.AppVersion $image.tag)) -}}
{{- end -}}

{{/* Scheduling and pull secrets of a pod: (dict "context" $ "values" .Values.postgres). */}}
{{- define "salesops.scheduling" -}}
{{- with .context.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* One ReadWriteOnce volume of persistence.size (MLflow's PVC, Postgres' data). */}}
{{- define "salesops.claimSpec" -}}
accessModes:
- ReadWriteOnce
resources:
  requests:
    storage: {{ required "persistence.size is required" .Values.persistence.size }}
{{- with .Values.persistence.storageClass }}
storageClassName: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* A container's securityContext, probes and resources, from its component's values. */}}
{{- define "salesops.containerSettings" -}}
{{- range $key := list "securityContext" "startupProbe" "livenessProbe" "readinessProbe" "resources" }}
{{- with index $ $key }}
{{ $key }}:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The Host headers `mlflow server` answers (any other gets 403 "Invalid Host header"; /health
is exempt): the Service by each name a pod may use, with and without the port, loopback
with any port for `kubectl port-forward`, and mlflow.extraAllowedHosts (an Ingress' host).
*/}}
{{- define "salesops.mlflowAllowedHosts" -}}
{{- $service := include "salesops.mlflowName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list -}}
{{- range $form := list $service (printf "%s.%s" $service $ns) (printf "%s.%s.svc" $service $ns) (printf "%s.%s.svc.cluster.local" $service $ns) -}}
{{- $hosts = concat $hosts (list $form (printf "%s:5000" $form)) -}}
{{- end -}}
{{- concat $hosts (list "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*") .Values.mlflow.extraAllowedHosts | join "," -}}
{{- end -}}

{{/* A read-only root filesystem: caches under $HOME go to /tmp, no bytecode written. */}}
{{- define "salesops.scratchEnv" -}}
- name: HOME
  value: /tmp
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
{{- end -}}
