"""The provider boundary without a cluster: what each provider says it is, typed results, faults."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deploytool import clusters
from deploytool.clusters.base import NODE_KIND_LABEL, REAL, SIMULATED, ClusterRef, ClusterSpec, Connection, node_kind
from deploytool.clusters.faults import NoFaults
from deploytool.clusters.local import create, kwok, nodes
from deploytool.clusters.status import ApiServerStatus, ClusterStatus, DeleteResult, NodeStatus, ProcessStatus
from deploytool.core import toolchain
from deploytool.core.errors import BadInput
from deploytool.deploy import cluster_select


@pytest.mark.parametrize(("name", "lifecycle", "kind", "loads", "default_name"), [
    ("local", True, SIMULATED, False, "deploytool"),
    ("kind", True, REAL, True, "deploytool"),
    ("current", False, REAL, False, ""),
])
def test_each_provider_describes_itself(name: str, lifecycle: bool, kind: str, loads: bool,
                                        default_name: str) -> None:
    info = clusters.get_provider(name).info
    assert (info.name, info.manages_lifecycle, info.default_node_kind, info.loads_images) == (
        name, lifecycle, kind, loads)
    assert info.default_cluster_name == default_name
    assert cluster_select.choose(name, None).name == default_name
    assert cluster_select.choose(name, "mine").name == "mine"


def test_values_overlay_comes_from_the_provider_and_is_a_copy() -> None:
    overlay = cluster_select.values_overlay(cluster_select.ClusterChoice("kind", "x"))
    assert overlay["service"]["type"] == "NodePort"
    overlay["service"]["type"] = "changed"
    assert clusters.get_provider("kind").info.values_overlay["service"]["type"] == "NodePort"
    assert cluster_select.values_overlay(cluster_select.ClusterChoice("local", "x")) == {}


def test_node_kind_reads_the_label_with_the_provider_default() -> None:
    assert node_kind({NODE_KIND_LABEL: REAL}, SIMULATED) == REAL
    assert node_kind({NODE_KIND_LABEL: SIMULATED}, REAL) == SIMULATED
    assert node_kind({}, SIMULATED) == SIMULATED
    assert node_kind(None, REAL) == REAL
    assert node_kind({NODE_KIND_LABEL: "bogus"}, REAL) == REAL


def test_kwok_nodes_say_they_are_simulated() -> None:
    labels = nodes.node_manifest(1, "16", "64Gi")["metadata"]["labels"]
    assert labels[NODE_KIND_LABEL] == SIMULATED


def _node(name: str, labels: dict[str, str]) -> Any:
    return SimpleNamespace(metadata=SimpleNamespace(name=name, labels=labels))


class _Core:
    def __init__(self, items: list[Any]) -> None:
        self.items = {n.metadata.name: n for n in items}

    def list_node(self, **_: Any) -> Any:
        return SimpleNamespace(items=list(self.items.values()))

    def read_node(self, name: str) -> Any:
        return self.items[name]


def test_connection_tells_simulated_from_real_nodes_in_a_mixed_cluster() -> None:
    kube: Any = SimpleNamespace(core=_Core([_node("kwok-node-1", {NODE_KIND_LABEL: SIMULATED}),
                                            _node("real-1", {NODE_KIND_LABEL: REAL}),
                                            _node("old-kwok", {})]))
    conn = Connection(ClusterRef("local", "x", Path("/k"), "x"), kube, clusters.get_provider("local").info,
                      NoFaults("local"))
    assert conn.node_kinds() == {"kwok-node-1": SIMULATED, "real-1": REAL, "old-kwok": SIMULATED}
    assert conn.pods_simulated_on("kwok-node-1") and not conn.pods_simulated_on("real-1")
    assert conn.simulated_nodes() == {"kwok-node-1", "old-kwok"}
    assert conn.describe() == "local/x"


def test_a_cluster_deploytool_did_not_make_breaks_nothing() -> None:
    faults = NoFaults("current")
    assert "only on clusters it made" in faults.node_failure_unsupported()
    with pytest.raises(BadInput):
        faults.fail_node("n1")
    with pytest.raises(BadInput, match="run for real"):
        faults.drive_cpu("ns", {"p": 100})
    assert not faults.simulates_image_pulls and "nothing to do" in faults.make_unpullable("ns", "-broken")


def test_cluster_status_as_json_keeps_the_documented_shape() -> None:
    status = ClusterStatus("local", "demo", True, ok=True, kubeconfig="/k", context="demo",
                           api_server=ApiServerStatus(True, "https://127.0.0.1:1", "v1.34.4"),
                           nodes=[NodeStatus("kwok-node-1", True, SIMULATED, "zone-a", "16", "64Gi", ("a:NoSchedule",)),
                                  NodeStatus("kwok-node-2", False, SIMULATED)],
                           processes={"etcd": ProcessStatus(12, True)}, ports={"kube-apiserver": 1},
                           extra={"milvus": {"port": 2, "up": True}})
    data = status.as_dict()
    assert data["nodes"]["total"] == 2 and data["nodes"]["ready"] == 1
    assert data["nodes"]["items"][0] == {"name": "kwok-node-1", "ready": True, "kind": SIMULATED, "zone": "zone-a",
                                         "cpu": "16", "memory": "64Gi", "taints": ["a:NoSchedule"]}
    assert data["api_server"]["reachable"] and data["processes"]["etcd"] == {"pid": 12, "alive": True}
    assert data["milvus"]["up"] and data["ports"] == {"kube-apiserver": 1}
    assert ClusterStatus("kind", "gone", False, error="no").as_dict() == {
        "provider": "kind", "name": "gone", "exists": False, "ok": False, "error": "no"}
    assert DeleteResult("demo", True, True, 1.5, (7,)).as_dict() == {
        "name": "demo", "existed": True, "deleted": True, "seconds": 1.5, "leftover_pids": [7]}


@pytest.mark.parametrize("spec", [ClusterSpec(nodes=0), ClusterSpec(nodes=101), ClusterSpec(node_cpu="-1"),
                                  ClusterSpec(node_memory="lots"), ClusterSpec(images=("milvusdb/milvus:v2.6.24",))])
def test_local_create_refuses_a_bad_spec_before_anything_is_made(spec: ClusterSpec) -> None:
    with pytest.raises(BadInput):
        create.check_spec(spec)


def test_kwokctl_is_told_the_pinned_versions() -> None:
    versions = kwok.versions()
    assert versions["kubeVersion"] == toolchain.load_group("k8s").version
    assert versions["kwokVersion"] == toolchain.load_group("kwok").version
    assert "v" + versions["etcdVersion"] == toolchain.load_group("etcd").version
    assert versions["metricsServerVersion"] == toolchain.load_group("metrics-server").version


def test_local_faults_name_the_nodes_running_the_stand_in_engine() -> None:
    """Test scaffolding a drill must not fail by itself: found by the engine's labels, never by provider name."""
    from deploytool.clusters.local import standin_engine
    from deploytool.clusters.local.faults import LocalFaults

    seen: list[tuple[str, str]] = []

    def pod(name: str, node: str, deleting: bool = False) -> Any:
        return SimpleNamespace(metadata=SimpleNamespace(name=name, deletion_timestamp="t" if deleting else None),
                               spec=SimpleNamespace(node_name=node))

    def list_namespaced_pod(namespace: str, label_selector: str) -> Any:
        seen.append((namespace, label_selector))
        return SimpleNamespace(items=[pod("milvus-standin-engine-a", "real-node-2"),
                                      pod("milvus-standin-engine-old", "real-node-1", deleting=True),
                                      pod("milvus-standin-engine-b", "")])

    kube: Any = SimpleNamespace(core=SimpleNamespace(list_namespaced_pod=list_namespaced_pod), context="c")
    faults = LocalFaults(kube, layout=SimpleNamespace())  # type: ignore[arg-type]
    assert faults.stand_in_nodes("milvus-prod") == {"real-node-2": ["milvus-standin-engine-a"]}
    namespace, selector = seen[0]
    assert namespace == "milvus-prod" and f"app.kubernetes.io/name={standin_engine.NAME}" in selector
    assert NoFaults("current").stand_in_nodes("milvus-prod") == {}
