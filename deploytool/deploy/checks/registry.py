"""The ordered list of verify checks."""

from __future__ import annotations

from deploytool.deploy.checks.endpoints import check_config_and_secret, check_service
from deploytool.deploy.checks.milvus import check_milvus
from deploytool.deploy.checks.placement import check_anti_affinity, check_resources, check_zone_spread
from deploytool.deploy.checks.policies import check_hpa, check_pdb
from deploytool.deploy.checks.workloads import check_statefulset_identity, check_workloads
from deploytool.deploy.verify import CheckFn

CHECKS: list[tuple[str, CheckFn]] = [
    ("workloads", check_workloads),
    ("statefulset-identity", check_statefulset_identity),
    ("anti-affinity", check_anti_affinity),
    ("zone-spread", check_zone_spread),
    ("hpa", check_hpa),
    ("pdb", check_pdb),
    ("service", check_service),
    ("config-and-secret", check_config_and_secret),
    ("resources", check_resources),
    ("milvus", check_milvus),
]


def select(names: list[str] | None) -> list[tuple[str, CheckFn]]:
    if not names:
        return CHECKS
    known = {n for n, _ in CHECKS}
    unknown = sorted(set(names) - known)
    if unknown:
        from deploytool.core.errors import BadInput

        raise BadInput(f"unknown check(s) {unknown}; known: {', '.join(n for n, _ in CHECKS)}")
    return [(n, fn) for n, fn in CHECKS if n in names]
