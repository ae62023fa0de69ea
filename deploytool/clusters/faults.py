"""The fault operations a drill may use, as each provider makes them happen.

A drill never asks which provider it runs on: it asks the cluster's Faults object to fail a node,
to drive a pod's CPU usage, or to make an image tag unpullable, and reads from it what can be done
(`node_failure_unsupported()`, `simulates_image_pulls`). Operations that undo a fault are
idempotent, so a drill may call them from a finally whatever happened.
"""

from __future__ import annotations

import abc

from deploytool.core.errors import BadInput


class Faults(abc.ABC):
    # True where pods never pull images (simulated pods): make_unpullable() then has to make an
    # unpullable tag fail some other way. Where images are pulled, a tag that cannot be pulled
    # fails by itself and make_unpullable() has nothing to do.
    simulates_image_pulls: bool = False

    @abc.abstractmethod
    def node_failure_unsupported(self) -> str:
        """Why fail_node() cannot work on this cluster ("" if it can)."""

    def stand_in_nodes(self, namespace: str) -> dict[str, list[str]]:
        """Nodes running pods the provider added beside the release in namespace that are test
        scaffolding, not part of what a drill rehearses (node -> pod names). A drill never picks
        such a node by itself: failing it would measure the scaffolding, not the deployment."""
        return {}

    @abc.abstractmethod
    def fail_node(self, node: str) -> str:
        """Make the node stop working as a dead machine would; returns what was done."""

    @abc.abstractmethod
    def restore_node(self, node: str) -> str:
        """Undo fail_node(node) (a no-op if the node is not failed); returns what was done."""

    def drive_cpu(self, namespace: str, usage_millicores: dict[str, int]) -> None:
        """Make each named pod report this CPU usage (simulated pods only; real pods need real load)."""
        raise BadInput("this cluster's pods run for real: their CPU usage cannot be set, only caused by load")

    def stop_cpu(self, namespace: str, selector: str) -> int:
        """Undo drive_cpu() for the pods matching selector; returns how many pods were reset."""
        return 0

    def make_unpullable(self, namespace: str, suffix: str) -> str:
        """Make image tags ending in suffix fail to start in namespace; returns what was done."""
        return f"nothing to do: tags ending in {suffix} that do not exist cannot be pulled"

    def restore_pullable(self) -> None:  # noqa: B027 - nothing to undo unless make_unpullable did something
        """Undo make_unpullable()."""


class NoFaults(Faults):
    """A cluster deploytool did not make: it breaks nothing there."""

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def node_failure_unsupported(self) -> str:
        return (f"drill node-failure stops a node, which deploytool can do only on clusters it made "
                f"(--provider local or kind), not on provider '{self.provider}'")

    def fail_node(self, node: str) -> str:
        raise BadInput(self.node_failure_unsupported())

    def restore_node(self, node: str) -> str:
        return "nothing to restore"
