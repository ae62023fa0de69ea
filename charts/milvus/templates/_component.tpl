{{/*
One Milvus component workload (Deployment or StatefulSet).
Params:
  root  the top-level context ($)
  spec  the component spec from values (e.g. .Values.queryNode)
  name  component name: label value, object-name suffix and `milvus run` role
  kind  Deployment | StatefulSet (StatefulSet gets a "data" PVC from spec.persistence)
*/}}
{{- define "milvus.component" -}}
{{- $root := .root -}}
{{- $c := .spec -}}
{{- $name := .name -}}
{{- $isSts := eq .kind "StatefulSet" -}}
{{- $standalone := not (include "milvus.remoteDeps" $root) -}}
{{- $tag := include "milvus.componentTag" (dict "root" $root "spec" $c) -}}
{{- $labelArgs := dict "root" $root "component" $name "version" $tag -}}
{{- $selector := include "milvus.selectorLabels" $labelArgs | fromYaml -}}
{{- $secretKeys := $root.Values.credentials -}}
apiVersion: apps/v1
kind: {{ .kind }}
metadata:
  name: {{ include "milvus.componentFullname" $labelArgs }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "milvus.labels" $labelArgs | nindent 4 }}
spec:
  {{- /* With an HPA the replica count is the HPA's: rendering it would make every upgrade reset it. */}}
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ $c.replicas }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "milvus.selectorLabels" $labelArgs | nindent 6 }}
  minReadySeconds: {{ $c.minReadySeconds }}
  {{- if $isSts }}
  serviceName: {{ include "milvus.fullname" $root }}
  updateStrategy:
    type: RollingUpdate
  {{- else if and (eq $name "mixcoord") (not $c.activeStandby) }}
  {{- /* mixcoord's etcd session is exclusive: without active-standby a surging second mixcoord
  cannot register, so the old pod must stop first (as the official chart and milvus-operator do). */}}
  strategy:
    type: Recreate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ include "milvus.intOrString" $c.strategy.maxSurge }}
      maxUnavailable: {{ include "milvus.intOrString" $c.strategy.maxUnavailable }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "milvus.podLabels" $labelArgs | nindent 8 }}
      annotations:
        checksum/config: {{ include "milvus.userConfig" $root | sha256sum }}
        {{- if $standalone }}
        checksum/embed-etcd: {{ include "milvus.embedEtcdConfig" $root | sha256sum }}
        {{- end }}
    spec:
      terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
      # No Docker-link env vars for Services (MINIO_PORT=tcp://...): Milvus maps environment
      # variables onto its config keys (docs/milvus-contract.md).
      enableServiceLinks: false
      securityContext:
        {{- include "milvus.podSecurityContext" (dict "root" $root "tag" $tag) | nindent 8 }}
      containers:
        - name: {{ $name }}
          image: "{{ $root.Values.image.repository }}:{{ $tag }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- include "milvus.containerSecurityContext" (dict "root" $root) | nindent 12 }}
          args: ["milvus", "run", {{ $name | quote }}]
          env:
            {{- /* Embedded storage (standalone): the Secret is not required. */}}
            {{- include "milvus.secretEnv" (dict "root" $root "env" "MINIO_ACCESS_KEY_ID" "key" $secretKeys.accessKeyKey "optional" $standalone) | nindent 12 }}
            {{- include "milvus.secretEnv" (dict "root" $root "env" "MINIO_SECRET_ACCESS_KEY" "key" $secretKeys.secretKeyKey "optional" $standalone) | nindent 12 }}
          ports:
            {{- if has $name (list "proxy" "standalone") }}
            - name: milvus
              containerPort: 19530
              protocol: TCP
            {{- end }}
            - name: metrics
              containerPort: 9091
              protocol: TCP
          {{- $p := $root.Values.probes }}
          # Startup: TCP on 9091 (milvus-operator's default), then readiness/liveness take over.
          startupProbe:
            tcpSocket:
              port: metrics
            periodSeconds: {{ $p.startup.periodSeconds }}
            timeoutSeconds: {{ $p.startup.timeoutSeconds }}
            failureThreshold: {{ $p.startup.failureThreshold }}
          # Readiness: Milvus's deep check (every component in the process Healthy or StandBy).
          readinessProbe:
            httpGet:
              path: {{ $p.readiness.path }}
              port: metrics
            periodSeconds: {{ $p.readiness.periodSeconds }}
            timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
            failureThreshold: {{ $p.readiness.failureThreshold }}
          # Liveness: the shallow process check, so a blinking dependency does not restart the pod.
          livenessProbe:
            httpGet:
              path: {{ $p.liveness.path }}
              port: metrics
            periodSeconds: {{ $p.liveness.periodSeconds }}
            timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
            failureThreshold: {{ $p.liveness.failureThreshold }}
          {{- with include "milvus.preStopSeconds" $name }}
          lifecycle:
            preStop:
              exec:
                # Let endpoints/load balancers drop this pod before Milvus stops serving.
                command: ["sleep", {{ . | quote }}]
          {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /milvus/configs/user.yaml
              subPath: user.yaml
              readOnly: true
            {{- if $standalone }}
            - name: config
              mountPath: /milvus/configs/embedEtcd.yaml
              subPath: embedEtcd.yaml
              readOnly: true
            {{- end }}
            - name: data
              mountPath: /var/lib/milvus
      {{- with $c.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "milvus.affinity" (dict "antiAffinity" $c.antiAffinity "selector" $selector) | trim }}
      affinity:
        {{- . | nindent 8 }}
      {{- end }}
      {{- if $c.topologySpread.enabled }}
      topologySpreadConstraints:
        - maxSkew: {{ $c.topologySpread.maxSkew }}
          topologyKey: {{ $c.topologySpread.topologyKey }}
          whenUnsatisfiable: {{ $c.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "milvus.selectorLabels" $labelArgs | nindent 14 }}
      {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "milvus.fullname" $root }}-config
        {{- if not $isSts }}
        # Scratch space (local cache, mmap files); data lives in object storage.
        - name: data
          emptyDir: {}
        {{- end }}
  {{- if $isSts }}
  volumeClaimTemplates:
    {{- include "milvus.pvcTemplate" (dict "name" "data" "persistence" $c.persistence) | nindent 4 }}
  {{- end }}
{{- end -}}
