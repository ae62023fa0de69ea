"""Read the live cluster into a `Snapshot`: one LIST per kind, converted to plain data.

The only place that sees Secret values: it keeps their key names and records which ConfigMap keys
contain one of the values (`secret_value_hits`), then drops the values.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Callable
from typing import Any

from deploytool.clusters.base import REAL, node_kind
from deploytool.core.conditions import is_ready
from deploytool.core.helm import Helm
from deploytool.core.hpa import current_utilization, target_utilization
from deploytool.core.kube import Kube
from deploytool.core.portforward import PodPortForward
from deploytool.deploy import snapshot as model
from deploytool.deploy.checks.expected import milvus_components
from deploytool.deploy.smoke import run_smoke
from deploytool.render.components import endpoint_component
from deploytool.render.manifests import Rendered

METRICS_PORT = 9091
MIN_SECRET_LEN = 4  # shorter values match by accident


def _plain(kube: Kube, obj: Any) -> Any:
    """A client model as the manifest would spell it (camelCase keys, no nulls)."""
    return kube.api.sanitize_for_serialization(obj) if obj is not None else {}


def container_from(kube: Kube, c: Any) -> model.Container:
    res = c.resources
    return model.Container(
        c.name, c.image or "", dict((res.requests if res else None) or {}), dict((res.limits if res else None) or {}),
        {e.name: e.value_from.secret_key_ref.name for e in c.env or []
         if e.value_from and e.value_from.secret_key_ref},
        _plain(kube, c.security_context))


def container_status_from(cs: Any) -> model.ContainerStatus:
    state, last = cs.state, cs.last_state
    waiting = state.waiting if state else None
    terminated = state.terminated if state else None
    last_terminated = last.terminated if last else None
    return model.ContainerStatus(
        cs.name, cs.restart_count or 0, (waiting.reason or "") if waiting else "",
        (terminated.reason or "") if terminated else "", (last_terminated.reason or "") if last_terminated else "",
        last_terminated.exit_code if last_terminated else None)


def pod_from(kube: Kube, p: Any) -> model.Pod:
    statuses = [container_status_from(cs) for cs in p.status.container_statuses or []]
    return model.Pod(
        name=p.metadata.name, namespace=p.metadata.namespace or "", labels=dict(p.metadata.labels or {}),
        annotations=dict(p.metadata.annotations or {}), node_name=p.spec.node_name or "",
        phase=p.status.phase or "", ready=is_ready(p), terminating=p.metadata.deletion_timestamp is not None,
        pod_ip=p.status.pod_ip or "", qos_class=p.status.qos_class or "",
        containers=[container_from(kube, c) for c in p.spec.containers],
        init_containers=[container_from(kube, c) for c in p.spec.init_containers or []],
        container_statuses=statuses,
        config_map_volumes=[v.config_map.name for v in p.spec.volumes or [] if v.config_map],
        security_context=_plain(kube, p.spec.security_context))


def workload_from(kube: Kube, kind: str, w: Any) -> model.Workload:
    st = w.status
    return model.Workload(kind, w.metadata.name, replicas=w.spec.replicas or 0, ready_replicas=st.ready_replicas or 0,
                          updated_replicas=st.updated_replicas or 0,
                          containers=[container_from(kube, c) for c in w.spec.template.spec.containers],
                          template_annotations=dict(w.spec.template.metadata.annotations or {}))


def hpa_from(h: Any) -> model.Hpa:
    ref = h.spec.scale_target_ref
    conditions = [model.Condition(c.type, c.status, c.reason or "", c.message or "")
                  for c in (h.status.conditions if h.status else None) or []]
    return model.Hpa(h.metadata.name, h.spec.min_replicas, h.spec.max_replicas, ref.kind, ref.name,
                     target_utilization(h), current_utilization(h),
                     (h.status.current_replicas if h.status else 0) or 0, conditions)


def pdb_from(kube: Kube, p: Any) -> model.Pdb:
    st = p.status
    return model.Pdb(p.metadata.name, _plain(kube, p.spec.selector), (st.disruptions_allowed if st else 0) or 0,
                     (st.current_healthy if st else 0) or 0, (st.desired_healthy if st else 0) or 0)


def node_from(n: Any, default_kind: str = REAL) -> model.Node:
    """A node; its kind from its deploytool.io/node-kind label, else the provider's default."""
    labels = dict(n.metadata.labels or {})
    return model.Node(n.metadata.name, labels, dict(n.status.allocatable or {}), is_ready(n),
                      bool(n.spec.unschedulable),
                      [model.Taint(t.key, t.effect, t.value or "") for t in n.spec.taints or []],
                      node_kind(labels, default_kind))


def secret_value_hits(configmaps: dict[str, dict[str, str]],
                      secret_values: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """ConfigMap -> data key -> names of the Secrets one of whose values (MIN_SECRET_LEN chars or
    more) that key's text contains."""
    hits: dict[str, dict[str, list[str]]] = {}
    for cm, data in configmaps.items():
        for key, text in data.items():
            found = sorted(s for s, values in secret_values.items()
                           if any(len(v) >= MIN_SECRET_LEN and v in (text or "") for v in values))
            if found:
                hits.setdefault(cm, {})[key] = found
    return hits


def _decoded(data: dict[str, str] | None) -> list[str]:
    return [base64.b64decode(v).decode(errors="replace") for v in (data or {}).values()]


class LiveCluster:
    """Loads snapshot parts from one namespace of a live cluster, each at most once."""

    def __init__(self, kube: Kube, namespace: str, helm: Helm | None = None, default_node_kind: str = REAL) -> None:
        self.kube, self.ns, self.helm = kube, namespace, helm
        self.default_node_kind = default_node_kind  # the provider's kind for nodes without the label
        self.loaded: set[str] = set()

    @property
    def api_calls(self) -> int:
        return self.kube.api.total

    def load(self, snap: model.Snapshot, parts: tuple[str, ...], expected: Rendered | None = None) -> None:
        for part in parts:
            if part in self.loaded:
                continue
            if part == "milvus":
                if expected is None:
                    raise ValueError("the milvus probe needs the rendered objects")
                snap.milvus = probe_milvus(self.kube, expected, snap)
            else:
                self._readers()[part](snap)
            self.loaded.add(part)  # only once read: a failed read fails every check that needs it

    def _readers(self) -> dict[str, Callable[[model.Snapshot], None]]:
        return {"pods": self._pods, "deployments": self._deployments, "statefulsets": self._statefulsets,
                "services": self._services, "endpoint_slices": self._endpoint_slices, "hpas": self._hpas,
                "pdbs": self._pdbs, "pvcs": self._pvcs, "nodes": self._nodes,
                "configmaps": self._configmaps_and_secrets, "secrets": self._configmaps_and_secrets,
                "network_policies": self._network_policies, "release_history": self._release_history}

    def _release_history(self, snap: model.Snapshot) -> None:
        if self.helm is None:
            raise ValueError("reading the release history needs helm")
        snap.release_history = [model.HelmRevision(
            int(h.get("revision", 0)), str(h.get("status", "")), str(h.get("chart", "")),
            str(h.get("app_version", "")), str(h.get("updated", "")), str(h.get("description", ""))[:300])
            for h in self.helm.history(snap.release, self.ns)]

    def _pods(self, snap: model.Snapshot) -> None:
        snap.pods = [pod_from(self.kube, p) for p in self.kube.core.list_namespaced_pod(self.ns).items]

    def _deployments(self, snap: model.Snapshot) -> None:
        items = self.kube.apps.list_namespaced_deployment(self.ns).items
        snap.deployments = {d.metadata.name: workload_from(self.kube, "Deployment", d) for d in items}

    def _statefulsets(self, snap: model.Snapshot) -> None:
        items = self.kube.apps.list_namespaced_stateful_set(self.ns).items
        snap.statefulsets = {d.metadata.name: workload_from(self.kube, "StatefulSet", d) for d in items}

    def _services(self, snap: model.Snapshot) -> None:
        snap.services = {v.metadata.name: model.Service(
            v.metadata.name, v.spec.type or "", dict(v.spec.selector or {}),
            [model.ServicePort(p.name or "", p.port) for p in v.spec.ports or []])
            for v in self.kube.core.list_namespaced_service(self.ns).items}

    def _endpoint_slices(self, snap: model.Snapshot) -> None:
        snap.endpoint_slices = [model.EndpointSlice(
            e.metadata.name, (e.metadata.labels or {}).get("kubernetes.io/service-name", ""),
            [model.Endpoint(list(ep.addresses or []), ep.conditions.ready if ep.conditions else None)
             for ep in e.endpoints or []])
            for e in self.kube.discovery.list_namespaced_endpoint_slice(self.ns).items]

    def _hpas(self, snap: model.Snapshot) -> None:
        items = self.kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(self.ns).items
        snap.hpas = {h.metadata.name: hpa_from(h) for h in items}

    def _pdbs(self, snap: model.Snapshot) -> None:
        items = self.kube.policy.list_namespaced_pod_disruption_budget(self.ns).items
        snap.pdbs = {p.metadata.name: pdb_from(self.kube, p) for p in items}

    def _pvcs(self, snap: model.Snapshot) -> None:
        snap.pvcs = {p.metadata.name: model.Pvc(p.metadata.name, (p.status.phase if p.status else "") or "",
                                                p.metadata.deletion_timestamp is not None)
                     for p in self.kube.core.list_namespaced_persistent_volume_claim(self.ns).items}

    def _nodes(self, snap: model.Snapshot) -> None:
        snap.nodes = {n.metadata.name: node_from(n, self.default_node_kind) for n in self.kube.core.list_node().items}

    def _network_policies(self, snap: model.Snapshot) -> None:
        from kubernetes import client

        items = client.NetworkingV1Api(self.kube.api).list_namespaced_network_policy(self.ns).items
        snap.network_policies = {p.metadata.name: model.NetworkPolicy(p.metadata.name, _plain(self.kube, p.spec))
                                 for p in items}

    def _configmaps_and_secrets(self, snap: model.Snapshot) -> None:
        """Both kinds at once: which ConfigMap holds a Secret's value is decided here, then the values go."""
        cms = {c.metadata.name: dict(c.data or {}) for c in self.kube.core.list_namespaced_config_map(self.ns).items}
        secrets = self.kube.core.list_namespaced_secret(self.ns).items
        hits = secret_value_hits(cms, {s.metadata.name: _decoded(s.data) for s in secrets})
        snap.configmaps = {n: model.ConfigMap(n, d, hits.get(n, {})) for n, d in cms.items()}
        snap.secrets = {s.metadata.name: model.Secret(s.metadata.name, sorted((s.data or {}).keys())) for s in secrets}
        self.loaded |= {"configmaps", "secrets"}


def read_snapshot(kube: Kube, namespace: str, parts: tuple[str, ...]) -> model.Snapshot:
    """The named parts of one namespace (for callers outside verify, such as drift detection)."""
    snap = model.Snapshot(namespace)
    LiveCluster(kube, namespace).load(snap, parts)
    return snap


def probe_milvus(kube: Kube, expected: Rendered, snap: model.Snapshot) -> model.MilvusProbe:
    """The pymilvus smoke through the endpoint component, then the /healthz of every Milvus pod
    bound to a real node (the snapshot's pods and nodes): through the API server's pod proxy, or a
    port-forward when the API server cannot reach the pod. Pods on simulated nodes are not asked
    (an agent, not Milvus, would answer). Failures are recorded, not raised."""
    target = expected.target
    try:
        smoke = run_smoke(kube, target.namespace, target.release, endpoint_component(expected.values))
    except Exception as exc:  # noqa: BLE001 - the failure is the evidence
        return model.MilvusProbe(error=f"{type(exc).__name__}: {str(exc)[:300]}")
    probe = model.MilvusProbe("", smoke.pod, smoke.server_version, smoke.inserted, round(smoke.seconds, 1))
    for component in milvus_components(expected):
        for pod in healthz_targets(snap, component):
            probe.healthz.append(_healthz(kube, target.namespace, component, pod))
    return probe


def healthz_targets(snap: model.Snapshot, component: str) -> list[model.Pod]:
    """The component's pods whose /healthz a reader asks: running on a real node. The check judges
    the others (simulated: skipped; not running or on no known node: failed) from the snapshot."""
    return [p for p in snap.pods_of(component)
            if snap.node_kind(p.node_name) == REAL and p.phase == "Running" and p.pod_ip]


def _healthz(kube: Kube, namespace: str, component: str, pod: model.Pod) -> model.Healthz:
    from kubernetes.client.exceptions import ApiException

    try:
        body = kube.core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod.name}:{METRICS_PORT}", namespace, "healthz", _request_timeout=10)
        return model.Healthz(component, pod.name, True, str(body).strip()[:200], "api-server pod proxy")
    except ApiException as exc:
        if not _unreachable(exc):  # the pod answered, with an error status: that is its health
            return model.Healthz(component, pod.name, False, f"HTTP {exc.status}: {_text(exc.body)}",
                                 "api-server pod proxy")
        proxy_error = f"HTTP {exc.status}: {_text(exc.body)}"
    except Exception as exc:  # noqa: BLE001 - try the port-forward
        proxy_error = f"{type(exc).__name__}: {str(exc)[:120]}"
    via = f"port-forward (the API server's pod proxy failed: {proxy_error[:120]})"
    try:
        with PodPortForward(kube.core, namespace, pod.name, METRICS_PORT) as port:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
                return model.Healthz(component, pod.name, resp.status == 200, _text(resp.read(200)), via)
    except Exception as exc:  # noqa: BLE001 - the failure is the evidence
        return model.Healthz(component, pod.name, False, f"{type(exc).__name__}: {str(exc)[:200]}", via)


def _unreachable(exc: Any) -> bool:
    """The API server could not reach the pod (its own error Status) or may not proxy (RBAC), as
    opposed to an answer from the pod."""
    return (exc.status in (502, 503) and "error trying to reach" in _text(exc.body)) or exc.status == 403


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    return str(body or "").strip()[:200]
