{{/*
Naming, labels and small shared helpers.
*/}}

{{- define "milvus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: fullnameOverride, else the release name when it already contains
the chart name, else "<release>-<chart name>".
*/}}
{{- define "milvus.fullname" -}}
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

{{/* "<fullname>-<component>"; params: root, component */}}
{{- define "milvus.componentFullname" -}}
{{- printf "%s-%s" (include "milvus.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "milvus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; params: root, component (optional) */}}
{{- define "milvus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "milvus.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
Common labels; params: root, component (optional), version (optional: the workload's own image
tag; default the Milvus tag), so etcd/MinIO do not restart when Milvus is upgraded.
*/}}
{{- define "milvus.labels" -}}
helm.sh/chart: {{ include "milvus.chart" .root }}
{{ include "milvus.selectorLabels" . }}
app.kubernetes.io/version: {{ .version | default .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Pod template labels: selector labels plus the version the pod runs; params as milvus.labels */}}
{{- define "milvus.podLabels" -}}
{{ include "milvus.selectorLabels" . }}
app.kubernetes.io/version: {{ .version | default .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
{{- end -}}

{{/* A Milvus component's image tag: its own image.tag, else the global one; params: root, spec */}}
{{- define "milvus.componentTag" -}}
{{- (.spec.image | default dict).tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- end -}}

{{/* "true" when a Milvus tag is a 3.x release (non-root image, uid 999); params: the tag */}}
{{- define "milvus.isV3" -}}
{{- if regexMatch "^v3[.]" . }}true{{ end -}}
{{- end -}}

{{/*
Pod securityContext of a Milvus pod; params: root, tag. fsGroup for every version (the volumes
become group-writable for uid 999); the non-root identity only for 3.x images (2.6 runs as root).
*/}}
{{- define "milvus.podSecurityContext" -}}
{{- $sc := deepCopy (.root.Values.podSecurityContext | default dict) -}}
{{- if include "milvus.isV3" .tag -}}
{{- $_ := set $sc "runAsUser" 999 -}}
{{- $_ := set $sc "runAsGroup" 999 -}}
{{- $_ := set $sc "runAsNonRoot" true -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}

{{/*
Container securityContext of every container the chart renders: containerSecurityContext from
values, with `extra` (a dict, e.g. readOnlyRootFilesystem for images known to write only to their
volumes) merged over it; params: root, extra (optional).
*/}}
{{- define "milvus.containerSecurityContext" -}}
{{- $sc := deepCopy (.root.Values.containerSecurityContext | default dict) -}}
{{- toYaml (mergeOverwrite $sc (.extra | default dict)) -}}
{{- end -}}

{{/* preStop sleep in seconds for a role (milvus-operator: 30 s on proxy and standalone); empty = none */}}
{{- define "milvus.preStopSeconds" -}}
{{- if has . (list "proxy" "standalone") }}30{{ end -}}
{{- end -}}

{{/* Name of the object-storage credentials Secret. */}}
{{- define "milvus.credentialsSecretName" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "milvus.fullname" .)) -}}
{{- end -}}

{{/* A secretKeyRef env entry; params: root, env, key, optional */}}
{{- define "milvus.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "milvus.credentialsSecretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* Render an int-or-string value (quotes strings such as "25%"). */}}
{{- define "milvus.intOrString" -}}
{{- if kindIs "string" . }}{{ . | quote }}{{ else }}{{ . }}{{ end -}}
{{- end -}}

{{/*
Milvus workloads for the current mode, as a YAML list:
  key  = values key holding the component spec
  name = component label / object-name suffix / `milvus run <name>` role
  kind = workload kind
*/}}
{{- define "milvus.components" -}}
{{- if eq .Values.mode "standalone" }}
- {key: standalone, name: standalone, kind: StatefulSet}
{{- else }}
- {key: proxy, name: proxy, kind: Deployment}
- {key: mixCoord, name: mixcoord, kind: Deployment}
- {key: queryNode, name: querynode, kind: Deployment}
- {key: dataNode, name: datanode, kind: Deployment}
- {key: streamingNode, name: streamingnode, kind: Deployment}
{{- end }}
{{- end -}}

{{/*
Pod anti-affinity; params: antiAffinity (spec), selector (dict of labels).
Renders nothing for type "off".
*/}}
{{- define "milvus.affinity" -}}
{{- $aa := .antiAffinity -}}
{{- if eq $aa.type "preferred" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: {{ $aa.weight }}
      podAffinityTerm:
        topologyKey: {{ $aa.topologyKey }}
        labelSelector:
          matchLabels:
            {{- toYaml .selector | nindent 12 }}
{{- else if eq $aa.type "required" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: {{ $aa.topologyKey }}
      labelSelector:
        matchLabels:
          {{- toYaml .selector | nindent 10 }}
{{- end }}
{{- end -}}

{{/* volumeClaimTemplate entry; params: name, persistence */}}
{{- define "milvus.pvcTemplate" -}}
- metadata:
    name: {{ .name }}
  spec:
    accessModes: ["ReadWriteOnce"]
    {{- with .persistence.storageClass }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size }}
{{- end -}}

{{/*
Cross-field checks the schema cannot express. Included once from
configmap.yaml; renders nothing or fails the render.
*/}}
{{- define "milvus.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.mode "standalone") $v.standalone.autoscaling.enabled -}}
  {{- fail "standalone.autoscaling.enabled must be false: standalone cannot scale out" -}}
{{- end -}}
{{- if include "milvus.remoteDeps" . -}}
  {{- if and (not $v.etcd.enabled) (empty $v.etcd.externalEndpoints) -}}
    {{- fail "etcd.externalEndpoints is required when etcd.enabled is false" -}}
  {{- end -}}
  {{- if not $v.minio.enabled -}}
    {{- if not $v.externalS3.host }}{{ fail "externalS3.host is required when minio.enabled is false" }}{{ end -}}
    {{- if not $v.externalS3.bucketName }}{{ fail "externalS3.bucketName is required when minio.enabled is false" }}{{ end -}}
  {{- end -}}
{{- end -}}
{{- if and (eq $v.messageQueue.type "kafka") (not $v.messageQueue.kafka.brokerList) -}}
  {{- fail "messageQueue.kafka.brokerList is required when messageQueue.type is kafka" -}}
{{- end -}}
{{- if and (eq $v.messageQueue.type "pulsar") (not $v.messageQueue.pulsar.host) -}}
  {{- fail "messageQueue.pulsar.host is required when messageQueue.type is pulsar" -}}
{{- end -}}
{{- /* mq.type is immutable once Milvus's coordinators have started: compare with the live release (lookup is
empty under `helm template`, so this guards installs and upgrades against a cluster). */ -}}
{{- $live := lookup "v1" "ConfigMap" .Release.Namespace (printf "%s-config" (include "milvus.fullname" .)) -}}
{{- with (and $live $live.data (get $live.data "user.yaml")) -}}
  {{- $was := dig "mq" "type" "" (fromYaml .) -}}
  {{- if and $was (ne $was $v.messageQueue.type) -}}
    {{- fail (printf "messageQueue.type %s: this release runs mq.type %s, which Milvus does not allow to change once its coordinators have started; keep %s or migrate with Milvus's MQ switch procedure" $v.messageQueue.type $was $was) -}}
  {{- end -}}
{{- end -}}
{{- if and $v.credentials.create $v.credentials.existingSecret -}}
  {{- fail "credentials.create and credentials.existingSecret are mutually exclusive" -}}
{{- end -}}
{{- range $c := include "milvus.components" . | fromYamlArray -}}
  {{- $a := (index $v $c.key).autoscaling -}}
  {{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
    {{- fail (printf "%s.autoscaling.minReplicas must not exceed maxReplicas" $c.key) -}}
  {{- end -}}
{{- end -}}
{{- end -}}

{{/* "true" when Milvus keeps metadata in etcd and data in object storage (cluster mode, or
standalone with dependencies: chart); empty for standalone's embedded etcd + local storage. */}}
{{- define "milvus.remoteDeps" -}}
{{- if or (eq .Values.mode "cluster") (eq (.Values.standalone.dependencies | default "embedded") "chart") -}}true{{- end -}}
{{- end -}}
