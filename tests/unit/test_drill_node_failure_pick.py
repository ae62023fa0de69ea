"""drill node-failure's choice of node (pure): required anti-affinity first, never the stand-in's engine node."""

from __future__ import annotations

from deploytool.drills.node_failure import pick_node

PODS = {"n1": ["proxy-a", "querynode-a", "datanode-a", "minio-0"], "n2": ["proxy-b", "querynode-b", "etcd-0"],
        "n3": ["proxy-c", "mixcoord-a"]}
REQUIRED = {"n1": 2, "n2": 3, "n3": 1}
READY = ["n1", "n2", "n3", "n4"]


def test_pods_with_required_anti_affinity_decide_before_the_pod_count() -> None:
    assert pick_node(PODS, REQUIRED, READY, {}) == "n2"
    assert pick_node(PODS, {}, READY, {}) == "n1"  # no required anti-affinity: the busiest node


def test_a_node_running_the_stand_in_engine_is_never_picked() -> None:
    assert pick_node(PODS, REQUIRED, READY, {"n2": ["milvus-standin-engine-x"]}) == "n1"
    assert pick_node(PODS, REQUIRED, READY, {n: ["e"] for n in PODS}) is None


def test_only_ready_schedulable_nodes_are_candidates() -> None:
    assert pick_node(PODS, REQUIRED, ["n1", "n3"], {}) == "n1"
    assert pick_node(PODS, REQUIRED, [], {}) is None
