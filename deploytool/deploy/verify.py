"""`verify`: named checks against the live cluster, each a result with evidence and a fix.

Checks read a Snapshot that LISTs each kind at most once per run (namespace-scoped, plus nodes),
so the API cost of a check does not grow with the number of pods. Each result records the API
calls its check made.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from deploytool.core.config import Target
from deploytool.render.manifests import Rendered

if TYPE_CHECKING:  # the kubernetes client loads only when a check runs, not for `verify --help`
    from deploytool.core.kube import Kube

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"


@dataclass
class Result:
    name: str
    status: str
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    api_calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Snapshot:
    """The live state of one release, fetched lazily with one LIST per kind."""

    kube: Kube
    target: Target

    @property
    def ns(self) -> str:
        return self.target.namespace

    @cached_property
    def pods(self) -> list[Any]:
        return self.kube.core.list_namespaced_pod(self.ns).items

    @cached_property
    def deployments(self) -> dict[str, Any]:
        return {d.metadata.name: d for d in self.kube.apps.list_namespaced_deployment(self.ns).items}

    @cached_property
    def statefulsets(self) -> dict[str, Any]:
        return {s.metadata.name: s for s in self.kube.apps.list_namespaced_stateful_set(self.ns).items}

    @cached_property
    def pvcs(self) -> dict[str, Any]:
        return {p.metadata.name: p for p in self.kube.core.list_namespaced_persistent_volume_claim(self.ns).items}

    @cached_property
    def hpas(self) -> dict[str, Any]:
        items = self.kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(self.ns).items
        return {h.metadata.name: h for h in items}

    @cached_property
    def pdbs(self) -> dict[str, Any]:
        return {p.metadata.name: p for p in self.kube.policy.list_namespaced_pod_disruption_budget(self.ns).items}

    @cached_property
    def services(self) -> dict[str, Any]:
        return {s.metadata.name: s for s in self.kube.core.list_namespaced_service(self.ns).items}

    @cached_property
    def endpoint_slices(self) -> list[Any]:
        return self.kube.discovery.list_namespaced_endpoint_slice(self.ns).items

    @cached_property
    def configmaps(self) -> dict[str, Any]:
        return {c.metadata.name: c for c in self.kube.core.list_namespaced_config_map(self.ns).items}

    @cached_property
    def secrets(self) -> dict[str, Any]:
        return {s.metadata.name: s for s in self.kube.core.list_namespaced_secret(self.ns).items}

    @cached_property
    def nodes(self) -> dict[str, Any]:
        return {n.metadata.name: n for n in self.kube.core.list_node().items}

    def workload(self, kind: str, name: str) -> Any | None:
        return (self.deployments if kind == "Deployment" else self.statefulsets).get(name)

    def pods_of(self, component: str) -> list[Any]:
        return sorted((p for p in self.pods
                       if (p.metadata.labels or {}).get("app.kubernetes.io/component") == component
                       and (p.metadata.labels or {}).get("app.kubernetes.io/instance") == self.target.release
                       and not p.metadata.deletion_timestamp), key=lambda p: p.metadata.name)


def config_checksum(user_yaml: str) -> str:
    """The chart's checksum/config: sha256 of user.yaml as the template emits it (no final newline)."""
    return hashlib.sha256(user_yaml.rstrip("\n").encode()).hexdigest()


@dataclass
class VerifyContext:
    snapshot: Snapshot
    expected: Rendered
    simulated_pods: bool  # kwok: no containers run, so no /healthz and no restarts
    deep: bool = False


CheckFn = Callable[[VerifyContext], Result]


def run_checks(ctx: VerifyContext, checks: list[tuple[str, CheckFn]],
               on_result: Callable[[Result], None] | None = None) -> list[Result]:
    results = []
    for name, fn in checks:
        before = ctx.snapshot.kube.api.total
        start = time.monotonic()
        try:
            result = fn(ctx)
        except Exception as exc:  # a check that cannot run is a failed check, with the reason
            result = Result(name, FAIL, [f"check could not run: {type(exc).__name__}: {str(exc)[:300]}"],
                            "see the error; rerun with -v")
        result.name = name
        result.api_calls = ctx.snapshot.kube.api.total - before
        result.seconds = round(time.monotonic() - start, 2)
        results.append(result)
        if on_result:
            on_result(result)
    return results
