"""Reading a live HorizontalPodAutoscaler (autoscaling/v2 models): utilization per resource.

No kubernetes import: attribute access only.
"""

from __future__ import annotations

from typing import Any


def current_utilization(hpa: Any) -> dict[str, int]:
    """resource name -> current averageUtilization (%), for the Resource metrics that report one."""
    out: dict[str, int] = {}
    for m in (hpa.status.current_metrics if hpa.status else None) or []:
        if m.type == "Resource" and m.resource and m.resource.current \
                and m.resource.current.average_utilization is not None:
            out[m.resource.name] = m.resource.current.average_utilization
    return out


def target_utilization(hpa: Any) -> dict[str, int]:
    """resource name -> target averageUtilization (%) from the HPA's spec."""
    return {m.resource.name: m.resource.target.average_utilization for m in hpa.spec.metrics or []
            if m.type == "Resource" and m.resource and m.resource.target}
