"""The live state of one release as plain data: what verify's checks, drift detection and the
pre-flight read. `snapshot_read` fills it from the cluster (one LIST per kind); unit tests fill it
from YAML fixtures with `Snapshot.from_dict`.

Secrets are reduced to their key names: no secret value is ever part of a snapshot. Whether a
ConfigMap holds a Secret's value is decided while reading (`ConfigMap.secret_values_in`).
Selectors, securityContexts and NetworkPolicy specs keep the manifest's camelCase shape, so they
compare directly with the rendered objects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from deploytool.clusters.base import REAL
from deploytool.core.labels import COMPONENT, INSTANCE


@dataclass
class Container:
    name: str
    image: str = ""
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)  # env var -> Secret it is read from (secretKeyRef)
    security_context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    name: str
    restart_count: int = 0
    waiting_reason: str = ""
    terminated_reason: str = ""  # state.terminated.reason (OOMKilled, Error, Completed, ...)
    last_terminated_reason: str = ""  # lastState.terminated.reason: why the previous run ended
    last_exit_code: int | None = None


@dataclass
class Pod:
    name: str
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    node_name: str = ""
    phase: str = "Running"
    ready: bool = True  # the Ready condition is True
    terminating: bool = False  # deletionTimestamp set
    pod_ip: str = ""
    qos_class: str = ""
    containers: list[Container] = field(default_factory=list)
    init_containers: list[Container] = field(default_factory=list)
    container_statuses: list[ContainerStatus] = field(default_factory=list)
    config_map_volumes: list[str] = field(default_factory=list)
    security_context: dict[str, Any] = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        """Running with its Ready condition True (the shared readiness predicate)."""
        return self.phase == "Running" and self.ready


@dataclass
class Workload:
    """A Deployment or StatefulSet: its spec's replica count, its status, and its pod template."""

    kind: str
    name: str
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    containers: list[Container] = field(default_factory=list)
    template_annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ServicePort:
    name: str = ""
    port: int = 0


@dataclass
class Service:
    name: str
    type: str = "ClusterIP"
    selector: dict[str, str] = field(default_factory=dict)
    ports: list[ServicePort] = field(default_factory=list)


@dataclass
class Endpoint:
    addresses: list[str] = field(default_factory=list)
    ready: bool | None = None  # conditions.ready; None (unknown) counts as ready, as for kube-proxy


@dataclass
class EndpointSlice:
    name: str
    service: str  # the kubernetes.io/service-name label
    endpoints: list[Endpoint] = field(default_factory=list)


@dataclass
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""


@dataclass
class Hpa:
    name: str
    min_replicas: int | None = None
    max_replicas: int = 0
    target_kind: str = "Deployment"
    target_name: str = ""
    target_utilization: dict[str, int] = field(default_factory=dict)  # resource -> target averageUtilization %
    current_utilization: dict[str, int] = field(default_factory=dict)  # resource -> current averageUtilization %
    current_replicas: int = 0
    conditions: list[Condition] = field(default_factory=list)


@dataclass
class Pdb:
    name: str
    selector: dict[str, Any] = field(default_factory=dict)  # matchLabels / matchExpressions
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0


@dataclass
class Pvc:
    name: str
    phase: str = "Bound"
    terminating: bool = False


@dataclass
class Taint:
    key: str
    effect: str
    value: str = ""


@dataclass
class Node:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    unschedulable: bool = False
    taints: list[Taint] = field(default_factory=list)
    kind: str = REAL  # REAL: a kubelet runs its pods' containers; SIMULATED: kwok only reports them


@dataclass
class ConfigMap:
    name: str
    data: dict[str, str] = field(default_factory=dict)
    secret_values_in: dict[str, list[str]] = field(default_factory=dict)  # data key -> Secrets whose value it holds


@dataclass
class Secret:
    name: str
    keys: list[str] = field(default_factory=list)  # key names only, never values


@dataclass
class NetworkPolicy:
    name: str
    spec: dict[str, Any] = field(default_factory=dict)  # podSelector, policyTypes, ingress, egress


@dataclass
class Healthz:
    component: str
    pod: str
    ok: bool
    body: str = ""
    via: str = ""  # how it was read: the API server's pod proxy, or a port-forward when that failed


@dataclass
class MilvusProbe:
    """What talking to Milvus showed: the pymilvus smoke (or why it failed) and each component's /healthz."""

    error: str = ""  # the smoke's failure, empty when it passed
    pod: str = ""
    server_version: str = ""
    inserted: int = 0
    seconds: float = 0.0
    healthz: list[Healthz] = field(default_factory=list)


@dataclass
class HelmRevision:
    """One entry of `helm history` (the release record helm keeps in the namespace)."""

    revision: int
    status: str  # deployed, superseded, failed, pending-install, pending-upgrade, pending-rollback, ...
    chart: str = ""
    app_version: str = ""
    updated: str = ""
    description: str = ""


@dataclass
class Snapshot:
    namespace: str
    release: str = "milvus"
    pods: list[Pod] = field(default_factory=list)
    deployments: dict[str, Workload] = field(default_factory=dict)
    statefulsets: dict[str, Workload] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    endpoint_slices: list[EndpointSlice] = field(default_factory=list)
    hpas: dict[str, Hpa] = field(default_factory=dict)
    pdbs: dict[str, Pdb] = field(default_factory=dict)
    pvcs: dict[str, Pvc] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    configmaps: dict[str, ConfigMap] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    network_policies: dict[str, NetworkPolicy] = field(default_factory=dict)
    release_history: list[HelmRevision] = field(default_factory=list)  # oldest first
    milvus: MilvusProbe | None = None

    def workload(self, kind: str, name: str) -> Workload | None:
        return (self.deployments if kind == "Deployment" else self.statefulsets).get(name)

    def node_kind(self, node: str) -> str:
        """REAL or SIMULATED for a node of the snapshot; "" for a pod bound to no node or an unknown one."""
        found = self.nodes.get(node) if node else None
        return found.kind if found else ""

    def pods_of(self, component: str) -> list[Pod]:
        """The release's pods of one component that are not being deleted, by name."""
        return sorted((p for p in self.pods if p.labels.get(COMPONENT) == component
                       and p.labels.get(INSTANCE) == self.release and not p.terminating), key=lambda p: p.name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        """A snapshot from plain data (YAML fixtures). Maps keyed by name may be given as lists of
        objects with a `name`; unknown fields are an error, so a typo cannot pass silently."""
        return typing.cast(Snapshot, _build(cls, data, "snapshot"))


def _build(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping for {tp.__name__}, got {data!r}")
        hints = typing.get_type_hints(tp)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown} for {tp.__name__}")
        return tp(**{k: _build(hints[k], v, f"{where}.{k}") for k, v in data.items()})
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if data is None else _build(args[0], data, where)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(data or [])]
    if origin is dict:
        _, item = typing.get_args(tp)
        if isinstance(data, list):  # [{name: a, ...}] -> {a: {...}}
            return {v["name"]: _build(item, v, f"{where}[{v.get('name')}]") for v in data}
        return {k: _build(item, v, f"{where}.{k}") for k, v in (data or {}).items()}
    return data


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels / matchExpressions, manifest spelling) matches these labels.
    An empty selector selects everything, as in a NetworkPolicy's podSelector."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and present and labels[key] in values) \
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True
