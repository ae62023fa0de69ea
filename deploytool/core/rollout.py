"""What "fully rolled" means for a Deployment or StatefulSet, defined once.

Reads the kubernetes model objects' attributes only (no client import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploytool.core.labels import COMPONENT


@dataclass(frozen=True)
class Rollout:
    kind: str  # Deployment | StatefulSet
    name: str
    component: str
    desired: int  # spec.replicas
    current: int  # status.replicas: pods that exist, old ones included
    ready: int
    updated: int
    available: int
    generation_observed: bool  # the controller has seen the latest spec
    revision_current: bool  # StatefulSet: currentRevision caught up with updateRevision

    @property
    def fully_rolled(self) -> bool:
        """The controller saw the latest spec, and every desired pod is updated, ready and available,
        with no old pod left over (as `kubectl rollout status` waits for, surplus included)."""
        return (self.generation_observed and self.revision_current
                and self.current == self.updated == self.ready == self.available == self.desired)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "component": self.component, "desired": self.desired,
                "ready": self.ready, "updated": self.updated, "available": self.available}

    def describe(self) -> str:
        return (f"{self.kind}/{self.name} {self.ready}/{self.desired} ready, {self.updated} updated, "
                f"{self.available} available, {self.current} pods"
                + ("" if self.generation_observed else ", spec change not yet observed")
                + ("" if self.revision_current else ", revision rolling"))


def rollout_of(obj: Any) -> Rollout:
    """The rollout state of a V1Deployment or V1StatefulSet."""
    kind = "StatefulSet" if hasattr(obj.spec, "service_name") else "Deployment"
    st = obj.status
    observed = (st.observed_generation or 0) >= (obj.metadata.generation or 0)
    revision_current = True
    if kind == "StatefulSet":
        revision_current = not st.update_revision or st.current_revision == st.update_revision
    return Rollout(kind, str(obj.metadata.name), (obj.metadata.labels or {}).get(COMPONENT, ""),
                   obj.spec.replicas or 0, st.replicas or 0, st.ready_replicas or 0, st.updated_replicas or 0,
                   st.available_replicas or 0, observed, revision_current)
