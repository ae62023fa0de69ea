"""`up`'s plan: everything decided before the cluster is touched. Pure.

From the rendered environment, the credentials the user gave and whether the cluster exists,
the plan says what `up` will do: create a cluster (and how big) or use the existing one, where
the credentials come from, and which steps apply. Any bad input is refused here, before anything
is created or applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploytool.core.config import Target
from deploytool.core.errors import BadInput, ClusterUnreachable
from deploytool.deploy import credentials
from deploytool.deploy.cluster_select import ClusterChoice
from deploytool.deploy.sizing import Sizing, nodes_to_roll
from deploytool.render.components import endpoint_component
from deploytool.render.manifests import Rendered
from deploytool.render.values import Layers

# The steps after the rollout; which of them run is part of the plan.
SMOKE, HPA_METRICS, VERIFY = "pymilvus smoke", "autoscaler metrics", "verify"


@dataclass(frozen=True)
class UpRequest:
    """What the user asked for."""

    target: Target
    layers: Layers
    choice: ClusterChoice
    credentials_file: Path | None = None
    nodes: int | None = None  # simulated nodes if the cluster has to be created; None: as the env needs
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    timeout_s: int = 600
    smoke: bool = True
    verify: bool = True
    real_nodes: int = 0  # local only: nodes with a real kubelet + containerd, if the cluster is created


@dataclass(frozen=True)
class NewCluster:
    """A cluster `up` creates, and why it has that many nodes."""

    nodes: int  # simulated
    node_cpu: str
    node_memory: str
    reason: str
    real_nodes: int = 0

    def describe(self) -> str:
        return f"{self.real_nodes} real + {self.nodes} simulated nodes" if self.real_nodes else f"{self.nodes} nodes"


@dataclass(frozen=True)
class UpPlan:
    request: UpRequest
    rendered: Rendered
    given_credentials: credentials.Credentials | None  # from --credentials-file or the environment
    create: NewCluster | None  # None: use the existing cluster

    @property
    def target(self) -> Target:
        return self.request.target

    @property
    def hpas(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.rendered.by_kind("HorizontalPodAutoscaler")]

    @property
    def hpa_minimums(self) -> dict[str, int]:
        return {h["spec"]["scaleTargetRef"]["name"]: int(h["spec"]["minReplicas"])
                for h in self.rendered.by_kind("HorizontalPodAutoscaler")}

    @property
    def endpoint(self) -> str:
        """The component clients connect to (the smoke goes through it)."""
        return endpoint_component(self.rendered.values)

    @property
    def checks(self) -> tuple[str, ...]:
        """The steps after the rollout this plan runs: the smoke, and verify (after the HPAs'
        first metrics, when the env has HPAs)."""
        steps = [SMOKE] if self.request.smoke else []
        if self.request.verify:
            steps += [HPA_METRICS, VERIFY] if self.hpas else [VERIFY]
        return tuple(steps)

    def credentials_source(self) -> str:
        if self.given_credentials:
            return self.given_credentials.source
        if credentials.must_come_from_user(self.target.env):
            return "the existing Secret"
        return "the existing Secret, else generated"

    def describe(self) -> str:
        where = self.request.choice.describe()
        cluster = (f"will create {where} with {self.create.describe()}" if self.create else f"{where} exists")
        note = f"; {self.request.layers.note}" if self.request.layers.note else ""
        return (f"{len(self.rendered.objects)} objects; {cluster}{note}; credentials from "
                f"{self.credentials_source()}; then {', '.join(self.checks) or 'no checks'}")


def plan_up(request: UpRequest, rendered: Rendered, given: credentials.Credentials | None, cluster_exists: bool,
            manages_lifecycle: bool) -> UpPlan:
    """The plan, or BadInput/ClusterUnreachable for what cannot be done (nothing has happened yet)."""
    create = None
    if not cluster_exists:
        choice = request.choice
        if not manages_lifecycle:
            raise ClusterUnreachable(f"{choice.describe()} does not exist, and the {choice.provider} provider "
                                     "does not create clusters")
        if given is None and credentials.must_come_from_user(request.target.env):
            # a new cluster has no Secret to keep: the user must give them
            raise BadInput(credentials.missing_message(request.target.env))
        create = new_cluster(request, rendered)
    return UpPlan(request, rendered, given, create)


def new_cluster(request: UpRequest, rendered: Rendered) -> NewCluster:
    """The cluster to create: the user's --nodes (none beside --real-nodes unless given), else
    sized so the env can be rolled."""
    if request.nodes is not None:
        sizing = Sizing(request.nodes, "--nodes")
    elif request.real_nodes:
        sizing = Sizing(0, "--real-nodes")
    else:
        sizing = nodes_to_roll(rendered.objects, request.node_cpu, request.node_memory)
    return NewCluster(sizing.nodes, request.node_cpu, request.node_memory, sizing.reason, request.real_nodes)
