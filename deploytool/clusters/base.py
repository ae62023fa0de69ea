"""What every cluster provider offers: a description of itself, a lifecycle, a connection, faults.

Callers never branch on a provider's name; they read its ProviderInfo (as kind's create.go reads
`info.Rootless`), ask a Connection whether the pods on a node are simulated or real, and break
things through the provider's Faults object.
"""

from __future__ import annotations

import abc
import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytool.clusters.faults import Faults
from deploytool.clusters.status import ClusterStatus, DeleteResult
from deploytool.core.errors import BadInput, ClusterUnreachable

if TYPE_CHECKING:
    from deploytool.core.helm import Helm
    from deploytool.core.kube import Kube

DEFAULT_NAME = "deploytool"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")

# Every node deploytool makes says whether the pods bound to it really run (a kubelet with a
# container runtime) or are simulated (kwok). Nodes without the label get the provider's default.
NODE_KIND_LABEL = "deploytool.io/node-kind"
REAL = "real"
SIMULATED = "simulated"


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider can do; callers decide on these, never on the name."""

    name: str  # for messages and reports only
    manages_lifecycle: bool  # creates and deletes its clusters (False: uses an existing one as it is)
    default_node_kind: str  # REAL or SIMULATED: pods on nodes without NODE_KIND_LABEL
    loads_images: bool = False  # `cluster create --load-image` copies local images into the nodes
    runs_real_nodes: bool = False  # `--real-nodes N` adds nodes with a real kubelet and container runtime
    values_overlay: Mapping[str, Any] = field(default_factory=dict)  # values `up` layers over the env's

    @property
    def default_cluster_name(self) -> str:
        """The cluster name when none is given ("": the kubeconfig's current context)."""
        return DEFAULT_NAME if self.manages_lifecycle else ""


def node_kind(labels: Mapping[str, str] | None, default: str) -> str:
    """REAL or SIMULATED for a node with these labels."""
    kind = (labels or {}).get(NODE_KIND_LABEL, default)
    return kind if kind in (REAL, SIMULATED) else default


@dataclass(frozen=True)
class ClusterSpec:
    """What `cluster create` (and `up` when it creates) asks of a provider."""

    nodes: int = 3
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    images: tuple[str, ...] = ()  # only for providers whose info.loads_images
    real_nodes: int = 0  # local only: nodes with a real kubelet + containerd (pods really run)


@dataclass(frozen=True)
class ClusterRef:
    """How to reach a cluster: its provider, its name, and a kubeconfig file + context."""

    provider: str
    name: str
    kubeconfig: Path | None  # None: the default kubeconfig ($KUBECONFIG or ~/.kube/config)
    context: str | None  # None: the kubeconfig's current context

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kubeconfig"] = str(self.kubeconfig) if self.kubeconfig else None
        return data

    def api_client(self) -> Any:
        """A kubernetes ApiClient built from this ref's kubeconfig (never touches ~/.kube/config)."""
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig) if self.kubeconfig else None,
                                context=self.context, client_configuration=cfg)
        return client.ApiClient(cfg)


@dataclass
class Connection:
    """An existing, reachable cluster: its ref, a kube API client, helm, and what its provider can do."""

    ref: ClusterRef
    kube: Kube
    info: ProviderInfo
    faults: Faults
    # What the provider does before helm for a release (namespace, rendered values): e.g. put the
    # images the values run where its nodes find them. Returns a status detail. None: nothing to do.
    prepare: Callable[[str, Mapping[str, Any]], str] | None = None

    @cached_property
    def helm(self) -> Helm:
        """helm bound to this cluster (built on first use: commands that never run helm need no helm)."""
        from deploytool.core.helm import Helm

        return Helm(str(self.ref.kubeconfig) if self.ref.kubeconfig else None, self.ref.context)

    def node_kinds(self) -> dict[str, str]:
        """Each node's kind (REAL or SIMULATED), by node name."""
        return {str(n.metadata.name): node_kind(n.metadata.labels, self.info.default_node_kind)
                for n in self.kube.core.list_node(_request_timeout=10).items}

    def pods_simulated_on(self, node: str) -> bool:
        """True if the pods bound to that node are simulated (no container runs)."""
        return node_kind(self.kube.core.read_node(node).metadata.labels, self.info.default_node_kind) == SIMULATED

    def simulated_nodes(self) -> set[str]:
        return {name for name, kind in self.node_kinds().items() if kind == SIMULATED}

    def describe(self) -> str:
        return f"{self.info.name}/{self.ref.name or 'current-context'}"


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise BadInput(f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-', "
                       "starting and ending with a letter or digit")
    return name


class ClusterProvider(abc.ABC):
    """A way to get a Kubernetes cluster. Implementations: local (kwok), current (kubeconfig), kind."""

    info: ProviderInfo

    @property
    def name(self) -> str:
        return self.info.name

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """(True, "") if this provider can work on this machine, else (False, why)."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """True if a cluster of that name exists (created by this provider)."""

    @abc.abstractmethod
    def create(self, name: str, spec: ClusterSpec | None = None, progress: bool = True,
               retain: bool = False) -> ClusterRef:
        """Create the cluster, or reuse (and say so) an existing one of that name."""

    @abc.abstractmethod
    def delete(self, name: str, progress: bool = True) -> DeleteResult:
        """Remove every process and file the provider made for the cluster; a no-op if there is none.

        Returns once every process the cluster started has exited (or is reported as left over)."""

    @abc.abstractmethod
    def status(self, name: str) -> ClusterStatus:
        """The cluster's API server, nodes and (where the provider runs them) processes and ports."""

    @abc.abstractmethod
    def ref(self, name: str) -> ClusterRef:
        """The ClusterRef of an existing cluster."""

    @abc.abstractmethod
    def faults(self, kube: Kube) -> Faults:
        """The fault operations drills may use on a cluster of this provider."""

    def values_overlay(self, name: str, real_nodes: int, values: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """The values `up` layers over the env's `values` on this cluster (the one `name` names, or the
        one created with `real_nodes` real nodes), and a note for the status line ("" if none)."""
        return copy.deepcopy(dict(self.info.values_overlay)), ""

    def connect(self, name: str) -> Connection:
        """A Connection to an existing cluster that answers; ClusterUnreachable otherwise."""

        if self.info.manages_lifecycle and not self.exists(name):
            raise ClusterUnreachable(f"no {self.name} cluster named '{name}' (create it with `deploytool cluster "
                                     f"create --provider {self.name} --name {name}` or `deploytool up`)")
        return self.connect_to(self.ref(name))

    def connect_to(self, ref: ClusterRef) -> Connection:
        """A Connection to the cluster `ref` names (known to exist); ClusterUnreachable if it does not answer."""
        from deploytool.core.kube import Kube

        kube = Kube(str(ref.kubeconfig) if ref.kubeconfig else None, ref.context)
        kube.ping()
        return Connection(ref, kube, self.info, self.faults(kube))
