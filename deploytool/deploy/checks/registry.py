"""The ordered list of verify checks, each with the snapshot parts it reads."""

from __future__ import annotations

from deploytool.deploy.checks.deep import deep_identity
from deploytool.deploy.checks.endpoints import check_config_and_secret, check_service
from deploytool.deploy.checks.limits import check_oom_killed
from deploytool.deploy.checks.milvus import check_milvus
from deploytool.deploy.checks.network import check_network_policies
from deploytool.deploy.checks.placement import check_anti_affinity, check_resources, check_zone_spread
from deploytool.deploy.checks.policies import check_hpa, check_pdb
from deploytool.deploy.checks.release import check_release
from deploytool.deploy.checks.security import check_security_context
from deploytool.deploy.checks.workloads import check_statefulset_identity, check_workloads
from deploytool.deploy.verify import Check

CHECKS: list[Check] = [
    Check("release", check_release, ("release_history",)),
    Check("workloads", check_workloads, ("deployments", "statefulsets", "pods")),
    Check("statefulset-identity", check_statefulset_identity, ("statefulsets", "pods", "pvcs"), deep=deep_identity),
    Check("anti-affinity", check_anti_affinity, ("pods", "nodes")),
    Check("zone-spread", check_zone_spread, ("pods", "nodes")),
    Check("hpa", check_hpa, ("hpas", "deployments")),
    Check("pdb", check_pdb, ("pdbs", "pods")),
    Check("service", check_service, ("services", "endpoint_slices", "pods")),
    Check("config-and-secret", check_config_and_secret, ("configmaps", "secrets", "pods")),
    Check("resources", check_resources, ("pods", "nodes")),
    Check("oom-killed", check_oom_killed, ("pods", "nodes")),
    Check("network-policies", check_network_policies, ("network_policies", "pods", "nodes")),
    Check("security-context", check_security_context, ("pods",)),
    Check("milvus", check_milvus, ("pods", "nodes", "milvus")),  # /healthz of every Milvus pod on a real node
]


def select(names: list[str] | None) -> list[Check]:
    if not names:
        return CHECKS
    known = {c.name for c in CHECKS}
    unknown = sorted(set(names) - known)
    if unknown:
        from deploytool.core.errors import BadInput

        raise BadInput(f"unknown check(s) {unknown}; known: {', '.join(c.name for c in CHECKS)}")
    return [c for c in CHECKS if c.name in names]
