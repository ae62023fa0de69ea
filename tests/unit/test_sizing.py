"""Sizing a new cluster so the environment can be rolled: a pure function, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from deploytool.core.errors import BadInput
from deploytool.deploy.preflight import rollout_warnings
from deploytool.deploy.sizing import identical_nodes, nodes_to_roll

HOST = "kubernetes.io/hostname"


def deployment(name: str, replicas: int, cpu: str = "1", memory: str = "1Gi", anti_affinity: str | None = None,
               surge: Any = 1, unavailable: Any = 0, strategy: str = "RollingUpdate") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}
    if anti_affinity:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": anti_affinity, "labelSelector": {"matchLabels": {"app.kubernetes.io/component": name}}}]}}
    rollout: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        rollout["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"kind": "Deployment",
            "metadata": {"name": f"milvus-{name}", "labels": {"app.kubernetes.io/component": name}},
            "spec": {"replicas": replicas, "strategy": rollout, "template": {"spec": spec}}}


CASES = [
    # (case, objects, node cpu, node memory, nodes, words in the reason)
    ("small env: the minimum of three", [deployment("proxy", 1)], "16", "64Gi", 3, "minimum"),
    ("required anti-affinity: replicas + surge", [deployment("querynode", 3, anti_affinity=HOST)], "16", "64Gi", 4,
     "querynode: 3 replicas + maxSurge 1 with required anti-affinity"),
    ("five replicas, surge 2", [deployment("proxy", 5, anti_affinity=HOST, surge=2)], "16", "64Gi", 7,
     "proxy: 5 replicas + maxSurge 2"),
    ("surge as a percentage rounds up", [deployment("proxy", 4, anti_affinity=HOST, surge="25%")], "16", "64Gi", 5,
     "maxSurge 1"),
    ("Recreate adds no surge pod", [deployment("mixcoord", 4, anti_affinity=HOST, strategy="Recreate")], "16",
     "64Gi", 4, "mixcoord: 4 replicas + maxSurge 0"),
    ("zone anti-affinity needs no node per pod", [deployment("proxy", 3, anti_affinity="topology.kubernetes.io/zone",
                                                             surge=0, unavailable=1)], "16", "64Gi", 3,
     "proxy: 3 replicas + maxSurge 0 with required anti-affinity on topology.kubernetes.io/zone"),
    ("requests decide on small nodes", [deployment("querynode", 4, cpu="3", memory="4Gi")], "4", "16Gi", 5,
     "requests of every pod while rolling"),
    ("memory decides too", [deployment("datanode", 2, cpu="100m", memory="20Gi")], "16", "32Gi", 3, "requests"),
    ("memory beyond the minimum", [deployment("datanode", 5, cpu="100m", memory="20Gi")], "16", "32Gi", 6,
     "requests"),
]


@pytest.mark.parametrize(("case", "objects", "cpu", "memory", "nodes", "reason"), CASES, ids=[c[0] for c in CASES])
def test_nodes_to_roll(case: str, objects: list[dict[str, Any]], cpu: str, memory: str, nodes: int,
                       reason: str) -> None:
    sizing = nodes_to_roll(objects, cpu, memory)
    assert sizing.nodes == nodes, sizing
    assert reason in sizing.reason


@pytest.mark.parametrize(("env", "cpu", "memory", "nodes"), [
    ("dev", "16", "64Gi", 3), ("staging", "16", "64Gi", 3), ("prod", "16", "64Gi", 4), ("prod", "8", "32Gi", 5)])
def test_committed_envs(render_env, env: str, cpu: str, memory: str, nodes: int) -> None:
    objects = render_env(env).objects
    sizing = nodes_to_roll(objects, cpu, memory)
    assert sizing.nodes == nodes, sizing
    # what the sizing promises, pre-flight agrees with: no rollout would stall on such a cluster
    assert rollout_warnings(objects, identical_nodes(sizing.nodes, cpu, memory)) == []


def test_prod_on_the_old_default_of_three_nodes_cannot_roll(render_env) -> None:
    warnings = rollout_warnings(render_env("prod").objects, identical_nodes(3, "16", "64Gi"))
    assert {w.split(":")[0] for w in warnings} == {"milvus-proxy", "milvus-querynode"}


def test_a_pod_larger_than_a_node_is_bad_input() -> None:
    with pytest.raises(BadInput, match="querynode requests 8 CPU/16Gi per pod: a node of 4 CPU/16Gi cannot hold one"):
        nodes_to_roll([deployment("querynode", 1, cpu="8", memory="16Gi")], "4", "16Gi")


def test_more_than_the_maximum_is_bad_input() -> None:
    with pytest.raises(BadInput, match="cannot be rolled on 5 nodes"):
        nodes_to_roll([deployment("proxy", 5, anti_affinity=HOST)], "16", "64Gi", maximum=5)
