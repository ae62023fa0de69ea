"""Pre-flight placement simulation on plain data."""

from __future__ import annotations

from decimal import Decimal

from deploytool.core.quantity import parse
from deploytool.deploy.preflight import NodeRoom, demands_from_objects, simulate, storage_problems

GI = 2**30


def nodes(n: int, cpu: str = "16", mem: str = "64Gi") -> list[NodeRoom]:
    return [NodeRoom(f"node-{i}", {"kubernetes.io/hostname": f"node-{i}", "topology.kubernetes.io/zone": f"z{i % 2}"},
                     parse(cpu), parse(mem)) for i in range(n)]


def test_prod_fits_on_three_roomy_nodes(render_env) -> None:
    fit = simulate(demands_from_objects(render_env("prod").objects), nodes(3))
    assert fit.ok, fit.problems
    assert fit.need_cpu == Decimal(29)  # 26 + 3 more MinIO pods (distributed, 4 x 1 CPU)
    placed = [c for comps in fit.placement.values() for c in comps]
    assert placed.count("querynode") == 3
    assert all(comps.count("querynode") == 1 for comps in fit.placement.values()), "required anti-affinity"


def test_prod_on_two_nodes_names_the_anti_affinity_shortfall(render_env) -> None:
    fit = simulate(demands_from_objects(render_env("prod").objects), nodes(2))
    assert not fit.ok
    text = " ".join(fit.problems)
    assert "querynode replica 3/3" in text and "required anti-affinity" in text
    assert "proxy replica 3/3" in text


def test_too_little_cpu_reports_exact_shortfall(render_env) -> None:
    fit = simulate(demands_from_objects(render_env("prod").objects), nodes(3, cpu="4", mem="64Gi"))
    assert not fit.ok
    assert any("short" in p and "CPU" in p for p in fit.problems)


def test_dev_fits_one_small_node(render_env) -> None:
    assert simulate(demands_from_objects(render_env("dev").objects), nodes(1, cpu="2", mem="4Gi")).ok


def test_unschedulable_and_selector_mismatch_are_named() -> None:
    from deploytool.deploy.preflight import PodDemand

    room = nodes(2)
    room[0].schedulable = False
    demand = PodDemand("proxy", 2, Decimal(1), Decimal(GI), None, (("disk", "ssd"),))
    fit = simulate([demand], room)
    assert not fit.ok
    assert "node-0: not schedulable" in fit.problems[0]
    assert "node-1: nodeSelector disk=ssd does not match" in fit.problems[0]


def test_storage_class_must_exist_or_default(render_env) -> None:
    objects = render_env("staging").objects
    assert storage_problems(objects, [{"name": "standard", "default": True}]) == []
    missing = storage_problems(objects, [{"name": "fast", "default": False}])
    assert missing and "no default StorageClass" in missing[0]


def test_rollout_warning_when_surge_has_no_free_domain(render_env) -> None:
    from deploytool.deploy.preflight import rollout_warnings

    objects = render_env("prod").objects
    warnings = rollout_warnings(objects, nodes(3))
    assert {w.split(":")[0] for w in warnings} == {"milvus-proxy", "milvus-querynode"}
    assert "needs one more kubernetes.io/hostname domain than its 3 replicas" in warnings[0]
    assert rollout_warnings(objects, nodes(4)) == []
    assert rollout_warnings(render_env("staging").objects, nodes(2)) == [], "preferred anti-affinity never stalls"


def test_tainted_nodes_hold_only_pods_that_tolerate_them() -> None:
    from deploytool.deploy.preflight import PodDemand

    room = nodes(2)
    room[0].taints = [{"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}]
    plain = PodDemand("proxy", 2, Decimal(1), Decimal(GI), "kubernetes.io/hostname")
    fit = simulate([plain], room)
    assert not fit.ok and "taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated" in fit.problems[0]
    tolerant = PodDemand("proxy", 2, Decimal(1), Decimal(GI), "kubernetes.io/hostname",
                         tolerations=(("node-role.kubernetes.io/control-plane", "Exists", "", "NoSchedule"),))
    assert simulate([tolerant], _tainted(nodes(2))).ok


def _tainted(room):
    room[0].taints = [{"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}]
    return room
