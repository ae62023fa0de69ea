"""One way for every cluster-facing command to find its cluster: --provider and --context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploytool.core.errors import ClusterUnreachable

DEFAULT_CLUSTER_NAME = "deploytool"


@dataclass
class ClusterChoice:
    provider: str  # local | kind | current
    name: str  # cluster name (local/kind) or kubeconfig context (current; "" = current context)

    def describe(self) -> str:
        return f"{self.provider}/{self.name or 'current-context'}"


def choose(provider: str, context: str | None) -> ClusterChoice:
    from deploytool import clusters

    if provider == "auto":
        provider = clusters.choose_default()
    if provider == "current":
        return ClusterChoice("current", context or "")
    return ClusterChoice(provider, context or DEFAULT_CLUSTER_NAME)


def provider_of(choice: ClusterChoice) -> Any:
    from deploytool import clusters

    return clusters.get_provider(choice.provider)


def connect(choice: ClusterChoice) -> tuple[Any, Any]:
    """The ClusterRef and a client for an existing cluster; ClusterUnreachable if there is none."""
    from deploytool.core.kube import Kube

    provider = provider_of(choice)
    if choice.provider != "current" and not provider.exists(choice.name):
        raise ClusterUnreachable(f"no {choice.provider} cluster named '{choice.name}' "
                                 f"(create it with `deploytool cluster create --provider {choice.provider} "
                                 f"--name {choice.name}` or `deploytool up`)")
    ref = provider.ref(choice.name)
    kube = Kube(str(ref.kubeconfig) if ref.kubeconfig else None, ref.context)
    kube.ping()
    return ref, kube


def values_overlay(choice: ClusterChoice) -> dict[str, Any]:
    """Values a provider needs on top of the env (kind: the proxy Service as a NodePort)."""
    if choice.provider == "kind":
        from deploytool.clusters.kind import VALUES_OVERRIDES

        return VALUES_OVERRIDES
    return {}
