{{/*
Generated Milvus user.yaml. Only topology is generated here (metadata store,
object storage, WAL); `.Values.config` is deep-merged on top. Credentials are
never written: Milvus reads them from the MINIO_ACCESS_KEY_ID /
MINIO_SECRET_ACCESS_KEY environment variables, which override minio.accessKeyID
/ minio.secretAccessKey.
*/}}

{{- define "milvus.baseConfig" -}}
{{- $fullname := include "milvus.fullname" . -}}
{{- $mq := .Values.messageQueue -}}
{{- $stop := .Values.gracefulStopTimeout }}
{{- $standby := and (eq .Values.mode "cluster") .Values.mixCoord.activeStandby }}
{{- if not (include "milvus.remoteDeps" .) }}
etcd:
  use:
    embed: true
  data:
    dir: /var/lib/milvus/etcd
  config:
    path: /milvus/configs/embedEtcd.yaml
  # Milvus 3.0 turns etcd auth on by default except for embedded etcd; say it explicitly.
  auth:
    enabled: false
common:
  storageType: local
  gracefulStopTimeout: {{ $stop.common }}
localStorage:
  path: /var/lib/milvus/data/
{{- else }}
etcd:
  endpoints:
  {{- if .Values.etcd.enabled }}
  {{- $etcd := printf "%s-etcd" $fullname }}
  {{- range $i := until (int .Values.etcd.replicas) }}
    - {{ printf "%s-%d.%s-headless.%s.svc.%s:2379" $etcd $i $etcd $.Release.Namespace $.Values.clusterDomain | quote }}
  {{- end }}
  {{- else }}
  {{- range .Values.etcd.externalEndpoints }}
    - {{ . | quote }}
  {{- end }}
  {{- end }}
  # Milvus 3.0 turns etcd auth on by default (user etcdadmin); the chart's etcd runs without auth.
  auth:
    enabled: false
common:
  storageType: remote
  gracefulStopTimeout: {{ $stop.common }}
minio:
  {{- if .Values.minio.enabled }}
  address: {{ printf "%s-minio" $fullname | quote }}
  port: 9000
  useSSL: false
  bucketName: {{ .Values.minio.bucketName | quote }}
  rootPath: {{ .Values.minio.rootPath | quote }}
  {{- else }}
  {{- with .Values.externalS3 }}
  address: {{ .host | quote }}
  port: {{ .port }}
  useSSL: {{ .useSSL }}
  bucketName: {{ .bucketName | quote }}
  rootPath: {{ .rootPath | quote }}
  {{- with .region }}
  region: {{ . | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
{{- end }}
mq:
  type: {{ $mq.type }}
{{- if eq $mq.type "woodpecker" }}
woodpecker:
  storage:
  {{- if not (include "milvus.remoteDeps" .) }}
    type: local
    rootPath: /var/lib/milvus/woodpecker
  {{- else }}
    type: minio
  {{- end }}
{{- else if eq $mq.type "kafka" }}
kafka:
  brokerList: {{ $mq.kafka.brokerList | quote }}
{{- else if eq $mq.type "pulsar" }}
pulsar:
  address: {{ $mq.pulsar.host | quote }}
  port: {{ $mq.pulsar.port }}
{{- end }}
{{- /* Coordinators inside mixcoord (and standalone): active-standby per mixCoord.activeStandby. */}}
rootCoord:
  enableActiveStandby: {{ $standby }}
  gracefulStopTimeout: {{ $stop.coordinators }}
queryCoord:
  enableActiveStandby: {{ $standby }}
  gracefulStopTimeout: {{ $stop.coordinators }}
dataCoord:
  enableActiveStandby: {{ $standby }}
  gracefulStopTimeout: {{ $stop.coordinators }}
indexCoord:
  enableActiveStandby: {{ $standby }}
proxy:
  gracefulStopTimeout: {{ $stop.proxy }}
queryNode:
  gracefulStopTimeout: {{ $stop.queryNode }}
dataNode:
  gracefulStopTimeout: {{ $stop.dataNode }}
{{- end -}}

{{/* Config file of standalone's embedded etcd (etcd.config.path), after Milvus's scripts/standalone_embed.sh. */}}
{{- define "milvus.embedEtcdConfig" -}}
{{- $e := .Values.etcd.embedded -}}
listen-client-urls: http://0.0.0.0:2379
advertise-client-urls: http://0.0.0.0:2379
quota-backend-bytes: {{ int64 $e.quotaBackendBytes }}
auto-compaction-mode: {{ $e.autoCompactionMode }}
auto-compaction-retention: {{ $e.autoCompactionRetention | quote }}
{{- end -}}

{{/*
Recursive deep merge: keys of .src overwrite .dst in place; nested maps are
merged. (Sprig's mergeOverwrite skips false/0/"" values, so it is not used.)
*/}}
{{- define "milvus.mergeInto" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "milvus.mergeInto" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k (deepCopy $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Final user.yaml content (also hashed into the pod checksum annotation). */}}
{{- define "milvus.userConfig" -}}
{{- $cfg := include "milvus.baseConfig" . | fromYaml -}}
{{- include "milvus.mergeInto" (dict "dst" $cfg "src" (.Values.config | default dict)) -}}
{{- $minio := get $cfg "minio" -}}
{{- if and (kindIs "map" $minio) (or (hasKey $minio "accessKeyID") (hasKey $minio "secretAccessKey")) -}}
{{- fail "config.minio.accessKeyID/secretAccessKey are not allowed: credentials come from the credentials Secret" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
