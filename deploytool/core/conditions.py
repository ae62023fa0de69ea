"""Readiness predicates over kubernetes objects (nodes, pods), shared by every layer.

No kubernetes import: they read the model attributes only, so importing them costs nothing.
"""

from __future__ import annotations

from typing import Any


def is_ready(obj: Any) -> bool:
    """The object's Ready condition is True (a node, or a pod regardless of its phase)."""
    return any(c.type == "Ready" and c.status == "True" for c in (obj.status.conditions or []))


def pod_ready(pod: Any) -> bool:
    """A Running pod whose Ready condition is True."""
    return pod.status.phase == "Running" and is_ready(pod)
