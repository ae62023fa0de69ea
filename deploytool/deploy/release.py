"""The helm release of an environment: its last revision's state, and settling one left pending.

Helm marks a release pending-install/-upgrade/-rollback while it works and refuses any other
operation on it until the mark goes (helm has no owner for the mark: a helm killed mid-way
leaves it for ever). deploytool settles such a release the way its docs recommend: roll back to
the last deployed revision, or uninstall a release that never deployed. It treats a pending
release as left by an interrupted run: two deploytool runs must not work on one release at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploytool.core.config import Target
from deploytool.core.errors import BadInput
from deploytool.core.helm import Helm

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


@dataclass(frozen=True)
class ReleaseState:
    """A release's history as helm reports it (oldest first), read once."""

    history: tuple[dict[str, Any], ...]

    @property
    def installed(self) -> bool:
        return bool(self.history)

    @property
    def status(self) -> str:
        """The last revision's status ("" when not installed)."""
        return str(self.history[-1].get("status", "")) if self.history else ""

    @property
    def revision(self) -> int:
        """The last revision's number (0 when not installed)."""
        return int(self.history[-1]["revision"]) if self.history else 0

    @property
    def deployed(self) -> bool:
        return self.status == "deployed"

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def last_deployed(self) -> int:
        """The newest revision that reached `deployed` (superseded or not); 0 if none ever did."""
        good = [int(r["revision"]) for r in self.history if r.get("status") in ("deployed", "superseded")]
        return max(good, default=0)


def settle(helm: Helm, release: str, namespace: str, state: ReleaseState, wait: bool) -> str:
    """Clear a pending mark: roll back to the last deployed revision, or uninstall a release that
    never deployed (wait: until its objects are rolled back / gone). "" if nothing was pending."""
    if not state.pending:
        return ""
    if state.last_deployed:
        helm.rollback(release, namespace, state.last_deployed, wait=wait)
        return f"revision {state.revision} was {state.status}: rolled back to {state.last_deployed}"
    helm.uninstall(release, namespace, wait=wait)
    return f"revision {state.revision} was {state.status} and none deployed before: uninstalled"


def read_state(helm: Helm, release: str, namespace: str) -> ReleaseState:
    return ReleaseState(tuple(helm.history(release, namespace)))


def deployed_revision(helm: Helm, target: Target) -> int:
    """The revision helm serves now (the last one `deployed`), or BadInput (exit 2) saying how to install it."""
    state = read_state(helm, target.release, target.namespace)
    deployed = [int(r["revision"]) for r in state.history if r.get("status") == "deployed"]
    if not deployed:
        last = f" (last revision is {state.status})" if state.installed else ""
        raise BadInput(f"release {target.release} is not installed in {target.namespace}{last}; "
                       f"run deploytool up --env {target.env}")
    return deployed[-1]
