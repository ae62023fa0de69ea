"""One way for every cluster-facing command to find its cluster: --provider and --context."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploytool.render.values import Layers, deep_merge

if TYPE_CHECKING:
    from deploytool.clusters import ClusterProvider, Connection


@dataclass
class ClusterChoice:
    provider: str  # the provider's name (for messages and get_provider)
    name: str  # cluster name (local/kind) or kubeconfig context (current; "" = current context)

    def describe(self) -> str:
        return f"{self.provider}/{self.name or 'current-context'}"


def choose(provider: str, context: str | None) -> ClusterChoice:
    """--provider (auto resolved) and --context, the name defaulting as the provider says."""
    from deploytool import clusters

    chosen = clusters.get_provider(provider)
    return ClusterChoice(chosen.name, context or chosen.info.default_cluster_name)


def provider_of(choice: ClusterChoice) -> ClusterProvider:
    from deploytool import clusters

    return clusters.get_provider(choice.provider)


def connect(choice: ClusterChoice) -> Connection:
    """A Connection to an existing cluster; ClusterUnreachable if there is none or it does not answer."""
    return provider_of(choice).connect(choice.name)


def values_overlay(choice: ClusterChoice) -> dict[str, Any]:
    """Values the provider needs on top of any env (kind: the proxy Service as a NodePort)."""
    return copy.deepcopy(dict(provider_of(choice).info.values_overlay))


def with_overlay(choice: ClusterChoice, layers: Layers, real_nodes: int = 0) -> Layers:
    """`layers` with the values this cluster needs on top of the env (the provider's overlay for the
    cluster `choice` names, or the one `up` creates with `real_nodes`), and the provider's note on it."""
    overlay, note = provider_of(choice).values_overlay(choice.name, real_nodes, layers.merged())
    return dataclasses.replace(layers, overlay=deep_merge(copy.deepcopy(layers.overlay), overlay), note=note)
