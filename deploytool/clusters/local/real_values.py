"""What an environment needs to run on the local cluster's real nodes, as a values overlay.

- Images: the chart's Milvus, etcd and MinIO images become the ones built here (standin_images.py),
  `localhost/deploytool/...`, with imagePullPolicy Never: the kubelet never contacts a registry,
  and a Milvus tag that was never built is a real ErrImageNeverPull. Milvus keeps its tag names
  (the stand-in is built under the Milvus tag it stands in for); etcd and MinIO run the pinned
  builds under their own versions.
- Resources: real nodes hold a share of this machine (kubelet.share_of_machine). When the env's
  requests do not fit the nodes' share whatever node the scheduler picks for each pod (fit()),
  every component's CPU and memory requests and limits are scaled by one factor per resource
  (ratios between components, and request to limit, kept), with room for one surging pod.
  Nothing else about the env changes.

`prepare` builds (cached) the images a rendered values tree needs and imports into every real
node's containerd those it lacks, and makes sure the proxies' shared engine runs: `up` runs it as a
step before helm, `upgrade` and `drill upgrade` before their first step (with the target's values).
Stand-in images are built only for known Milvus releases (versions.known_release_problem): any
other tag is never built, so it fails on the kubelet like a tag that does not exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from deploytool.clusters.local import kubelet, realnodes, standin_engine
from deploytool.clusters.local.images import REGISTRY
from deploytool.clusters.local.layout import Layout
from deploytool.core import quantity, toolchain
from deploytool.core.kube import Kube
from deploytool.render import versions
from deploytool.render.components import CLUSTER_COMPONENTS, active_components

NEVER = "Never"
STANDIN_REPOSITORY = f"{REGISTRY}/milvus-standin"
# Rounding room (quantities are rounded down to whole millicores / MiB).
SLACK = Decimal("0.95")
MIN_CPU_MILLIS = Decimal(5)
MIN_MEMORY = Decimal(32 << 20)


def image_overlay() -> dict[str, Any]:
    """The chart's images -> the ones built here, never pulled; the proxies' shared engine."""
    return {
        "config": {"standin": {"engineAddress": standin_engine.ADDRESS}},
        "image": {"repository": STANDIN_REPOSITORY, "pullPolicy": NEVER},
        "etcd": {"image": {"repository": f"{REGISTRY}/etcd", "tag": toolchain.load_group("etcd").version,
                           "pullPolicy": NEVER}},
        "minio": {"image": {"repository": f"{REGISTRY}/minio", "tag": toolchain.load_group("minio").version,
                            "pullPolicy": NEVER}},
    }


def milvus_tags(values: Mapping[str, Any]) -> list[str]:
    """Every Milvus tag the values run: the global tag and any component's own."""
    tags = [str((values.get("image") or {}).get("tag") or "")]
    for key, _ in (*CLUSTER_COMPONENTS, ("standalone", "standalone")):
        tag = ((values.get(key) or {}).get("image") or {}).get("tag")
        if tag:
            tags.append(str(tag))
    return sorted({t for t in tags if t})


def _replicas(values: Mapping[str, Any], key: str) -> int:
    comp = values.get(key) or {}
    if key == "minio":
        return int(comp.get("replicas", 4)) if comp.get("mode") == "distributed" else 1
    if key == "standalone":
        return 1
    auto = comp.get("autoscaling") or {}
    return max(int(comp.get("replicas", 1)), int(auto.get("minReplicas", 0)) if auto.get("enabled") else 0)


@dataclass(frozen=True)
class Fit:
    """One factor per resource (<= 1) that makes the env's requests fit the real nodes."""

    cpu: Decimal
    memory: Decimal

    @property
    def scaled(self) -> bool:
        return self.cpu < 1 or self.memory < 1

    def describe(self) -> str:
        if not self.scaled:
            return "requests fit the real nodes as they are"
        return (f"requests and limits scaled to fit the real nodes (CPU x{self.cpu:.2f}, memory x{self.memory:.2f}, "
                "ratios kept)")


def _request(comp: Mapping[str, Any], resource: str) -> Decimal:
    requests = ((comp.get("resources") or {}).get("requests") or {})
    return quantity.parse(requests[resource]) if resource in requests else Decimal(0)


def fit(values: Mapping[str, Any], nodes: int, share: kubelet.Share) -> Fit:
    """The factors, per resource: the largest factor f <= 1 with f*(S + (n+1)*L) <= SLACK*(n*C - E),
    for S the env's total request, L its largest pod, n nodes of capacity C, E the shared engine's
    request. Then any placement the scheduler makes fits (a pod fails to fit only when every node
    is already loaded above C - L, i.e. holds more than n*(C - L) in all), with one surging pod of
    the largest size on top."""
    keys = [c.key for c in active_components(dict(values))]
    factors = {}
    engine = standin_engine.REQUESTS if "proxy" in {c.name for c in active_components(dict(values))} else {}
    for resource, per_node in (("cpu", Decimal(share.cpu_millis) / 1000), ("memory", Decimal(share.memory_bytes))):
        pods = [(_request(values.get(k) or {}, resource), _replicas(values, k)) for k in keys]
        total = sum((r * n for r, n in pods), Decimal(0))
        largest = max((r for r, _ in pods), default=Decimal(0))
        room = per_node * nodes - (quantity.parse(engine[resource]) if resource in engine else Decimal(0))
        factor = Decimal(1)
        if total > 0:
            factor = min(factor, SLACK * room / (total + (nodes + 1) * largest))
        factors[resource] = factor.quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    return Fit(factors["cpu"], factors["memory"])


def _scale(value: Any, resource: str, factor: Decimal) -> str:
    amount = quantity.parse(value) * factor
    if resource == "cpu":
        return f"{max(MIN_CPU_MILLIS, (amount * 1000).to_integral_value(rounding=ROUND_DOWN))}m"
    return f"{max(MIN_MEMORY, amount) // (1 << 20)}Mi"


def resources_overlay(values: Mapping[str, Any], factors: Fit) -> dict[str, Any]:
    """Every active component's CPU and memory requests and limits times the factors."""
    if not factors.scaled:
        return {}
    overlay: dict[str, Any] = {}
    for comp in active_components(dict(values)):
        resources = copy.deepcopy((values.get(comp.key) or {}).get("resources") or {})
        for part in ("requests", "limits"):
            for resource, factor in (("cpu", factors.cpu), ("memory", factors.memory)):
                if resource in (resources.get(part) or {}):
                    resources[part][resource] = _scale(resources[part][resource], resource, factor)
        if resources:
            overlay[comp.key] = {"resources": resources}
    return overlay


def real_shares(layout: Layout, requested: int) -> tuple[int, kubelet.Share | None]:
    """How many real nodes the cluster has (or will have) and each one's share (None: no real node)."""
    nodes = realnodes.existing(layout)
    if nodes:
        return len(nodes), realnodes.recorded_share(nodes[0])
    return requested, kubelet.share_of_machine(requested) if requested else None


def standin_tags(values: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The Milvus tags `values` runs that get a stand-in image (known releases), and for the others
    why not: they are never built, so their pods fail as a real never-pullable image."""
    built, skipped = [], {}
    for tag in milvus_tags(values):
        problem = versions.known_release_problem(tag)
        if problem:
            skipped[tag] = problem
        else:
            built.append(tag)
    return built, skipped


def prepare(layout: Layout, kube: Kube, namespace: str, values: Mapping[str, Any]) -> str:
    """Before helm (`up`) or before an upgrade's first step: build (cached) the images `values` runs
    and import into every real node those it lacks (by digest); for a cluster-mode env, make sure the
    proxies' shared engine exists (standin_engine.py; an existing one is never restarted)."""
    from deploytool.clusters.local import standin_images

    active = {c.key for c in active_components(dict(values))}
    tags, skipped = standin_tags(values)
    built = [standin_images.standin_image(tag, log=lambda _message: None) for tag in tags]
    built += [standin_images.etcd_image()] if "etcd" in active else []
    built += [standin_images.minio_image()] if "minio" in active else []
    imported = realnodes.import_into_nodes(layout, built)
    fresh = sum(1 for count in imported.values() if count)
    detail = (f"{len(imported)} image(s) in {len(realnodes.existing(layout))} real node(s) "
              f"({fresh} imported, {len(imported) - fresh} already there): "
              + ", ".join(r.removeprefix(REGISTRY + "/") for r in imported))
    detail += "".join(f"; {tag} not built ({why})" for tag, why in skipped.items())
    if "proxy" in active:
        tag = str(values["image"]["tag"])
        engine_tag = tag if tag in tags else (tags[0] if tags else tag)
        detail += "; " + standin_engine.ensure(kube, namespace, f"{STANDIN_REPOSITORY}:{engine_tag}")
    return detail
