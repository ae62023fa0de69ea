"""The live facts an upgrade plan is judged on, gathered once into plain data.

One LIST each of nodes, pods (every namespace: other tenants' requests take room too),
Deployments/StatefulSets and PDBs of the release, plus the release's values from helm. The target
is rendered with the same chart and the release's values (helm template, no cluster change) and
validated with every rule of `deploytool validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from deploytool.core import paths, quantity
from deploytool.core.conditions import is_ready
from deploytool.core.config import Target
from deploytool.core.errors import Problem
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.labels import COMPONENT, INSTANCE, release_selector
from deploytool.core.rollout import rollout_of
from deploytool.render.validate import validate
from deploytool.render.values import deep_merge, load_yaml_file


@dataclass(frozen=True)
class NodeFact:
    name: str
    labels: dict[str, str]
    cpu: Decimal  # allocatable
    memory: Decimal
    schedulable: bool  # Ready and not cordoned
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect), NoSchedule/NoExecute only


@dataclass(frozen=True)
class PodFact:
    namespace: str
    name: str
    node: str  # "" while unscheduled
    cpu: Decimal  # requests
    memory: Decimal
    component: str = ""  # our release's component, "" for any other pod


@dataclass(frozen=True)
class WorkloadFact:
    kind: str
    name: str
    component: str
    replicas: int
    ready: int
    settled: bool
    tag: str  # image tag of the pod template's first container


@dataclass(frozen=True)
class PdbFact:
    name: str
    component: str
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int


@dataclass
class LiveFacts:
    env: str
    release: str
    namespace: str
    revision: int
    values: dict[str, Any]  # the release's user-supplied values (helm get values)
    mq_type: str | None  # the release's computed messageQueue.type (helm get values --all)
    workloads: list[WorkloadFact] = field(default_factory=list)
    pods: list[PodFact] = field(default_factory=list)
    nodes: list[NodeFact] = field(default_factory=list)
    pdbs: list[PdbFact] = field(default_factory=list)


@dataclass
class TargetFacts:
    """The release as the target values render it (objects) and the values rules' verdict."""

    objects: list[dict[str, Any]]
    problems: list[Problem]
    mq_type: str | None
    mixcoord_active_standby: bool | None = None  # the chart's mixCoord.activeStandby


def image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def _requests(containers: list[Any]) -> tuple[Decimal, Decimal]:
    cpu = mem = Decimal(0)
    for c in containers or []:
        req = (c.resources.requests if c.resources else None) or {}
        cpu += quantity.parse(req.get("cpu", "0"))
        mem += quantity.parse(req.get("memory", "0"))
    return cpu, mem


def workload_fact(obj: Any) -> WorkloadFact:
    """A V1Deployment or V1StatefulSet as plain data; settled is core.rollout's "fully rolled"."""
    rollout = rollout_of(obj)
    return WorkloadFact(rollout.kind, rollout.name, rollout.component, rollout.desired, rollout.ready,
                        rollout.fully_rolled, image_tag(obj.spec.template.spec.containers[0].image))


def gather(kube: Kube, helm: Helm, target: Target, revision: int) -> LiveFacts:
    """Every live fact the planner reads, in one pass."""
    ns, release = target.namespace, target.release
    values = helm.get_values(target.release, ns)
    computed = helm.get_values(target.release, ns, all_values=True)
    facts = LiveFacts(target.env, release, ns, revision, values, mq_type_of(computed))
    selector = release_selector(release)
    for dep in kube.apps.list_namespaced_deployment(ns, label_selector=selector).items:
        facts.workloads.append(workload_fact(dep))
    for sts in kube.apps.list_namespaced_stateful_set(ns, label_selector=selector).items:
        facts.workloads.append(workload_fact(sts))
    for node in kube.core.list_node().items:
        alloc = node.status.allocatable or {}
        taints = tuple((t.key, t.value or "", t.effect) for t in node.spec.taints or []
                       if t.effect in ("NoSchedule", "NoExecute"))
        facts.nodes.append(NodeFact(str(node.metadata.name), dict(node.metadata.labels or {}),
                                    quantity.parse(alloc.get("cpu", "0")), quantity.parse(alloc.get("memory", "0")),
                                    is_ready(node) and not node.spec.unschedulable, taints))
    live = "status.phase!=Succeeded,status.phase!=Failed"
    for pod in kube.core.list_pod_for_all_namespaces(field_selector=live).items:
        labels = pod.metadata.labels or {}
        ours = pod.metadata.namespace == ns and labels.get(INSTANCE) == release
        cpu, mem = _requests(pod.spec.containers)
        facts.pods.append(PodFact(str(pod.metadata.namespace), str(pod.metadata.name), pod.spec.node_name or "",
                                  cpu, mem, labels.get(COMPONENT, "") if ours else ""))
    for pdb in kube.policy.list_namespaced_pod_disruption_budget(ns, label_selector=selector).items:
        st = pdb.status
        facts.pdbs.append(PdbFact(str(pdb.metadata.name), (pdb.metadata.labels or {}).get(COMPONENT, ""),
                                  st.disruptions_allowed or 0, st.current_healthy or 0, st.desired_healthy or 0))
    facts.workloads.sort(key=lambda w: (w.kind, w.name))
    return facts


def mq_type_of(values: dict[str, Any]) -> str | None:
    """The chart's messageQueue.type (Milvus's mq.type) in these values."""
    mq = values.get("messageQueue")
    return str(mq["type"]) if isinstance(mq, dict) and mq.get("type") else None


def render_target(helm: Helm, target: Target, values: dict[str, Any]) -> TargetFacts:
    """The target values through every validation rule and `helm template` (nothing applied)."""
    merged = deep_merge(load_yaml_file(paths.chart_dir() / "values.yaml"), values)
    problems = validate(target.env, merged)
    objects: list[dict[str, Any]] = []
    if not problems:
        text = helm.template(target.release, paths.chart_dir(), target.namespace, values)
        objects = [doc for doc in yaml.safe_load_all(text) if doc]
    standby = (merged.get("mixCoord") or {}).get("activeStandby")
    return TargetFacts(objects, problems, mq_type_of(merged), None if standby is None else bool(standby))

