"""dev on one real node: `up --real-nodes 1` runs the chart's standalone pod as a real container of
the Milvus stand-in image built here; deleted, it comes back with its claim and its data (card 4)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from real_up import STANDIN, UpCluster, step, up_on_real_nodes, wait

from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.clusters.local.layout import Layout
from deploytool.core.conditions import is_ready
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def dev(cluster_lifetime: Any, monkeypatch_module: Any) -> Iterator[UpCluster]:
    yield from up_on_real_nodes(cluster_lifetime, "dev", 1)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DEPLOYTOOL_S3_ACCESS_KEY", raising=False)  # dev generates its own
        mp.delenv("DEPLOYTOOL_S3_SECRET_KEY", raising=False)
        yield mp




def test_dev_up_runs_the_chart_as_real_containers_of_images_built_here(dev: UpCluster) -> None:
    data = dev.first
    assert data["ok"] and data["changed"] and data["revision"] == 1
    assert "images built here" in step(data, "plan")
    assert "milvus-standin:v2.6.24" in step(data, "provider prerequisites")
    assert data["smoke"]["inserted"] == 1000 and data["smoke"]["pod"] == "milvus-standalone-0"
    pod = dev.kube.core.read_namespaced_pod("milvus-standalone-0", "milvus-dev")
    node = dev.kube.core.read_node(pod.spec.node_name)
    assert node.metadata.labels[NODE_KIND_LABEL] == REAL
    container = pod.spec.containers[0]
    assert container.image == f"{STANDIN}:v2.6.24" and container.image_pull_policy == "Never"
    assert pod.spec.enable_service_links is False
    status = pod.status.container_statuses[0]
    assert status.container_id.startswith("containerd://") and status.state.running
    # the stand-in says what it is, in the real container's log
    log = dev.kube.core.read_namespaced_pod_log("milvus-standalone-0", "milvus-dev")
    assert "stand-in" in log.lower()
    again = dev.cli("up", "--env", "dev", "--output", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["changed"] is False


def test_a_deleted_standalone_pod_returns_with_its_claim_and_the_collection(dev: UpCluster) -> None:
    core, ns, name = dev.kube.core, "milvus-dev", "milvus-standalone-0"
    collection = f"persist_{uuid.uuid4().hex[:6]}"
    with PodClient(dev.kube, ns, name) as conn:
        assert create_loaded_collection(conn.client, collection, 8, [[float(i)] * 8 for i in range(200)]) == 200
    # the data is in the pod's engine, not in the host's milvus-lite that kwok's rules reach
    host_port = (Layout(dev.name).read_state() or {})["ports"]["milvus-lite"]
    from pymilvus import MilvusClient
    host = MilvusClient(uri=f"http://127.0.0.1:{host_port}", timeout=10)
    try:
        assert collection not in host.list_collections()
    finally:
        host.close()
    before = core.read_namespaced_pod(name, ns)
    claim = next(v.persistent_volume_claim.claim_name for v in before.spec.volumes if v.persistent_volume_claim)
    volume = core.read_namespaced_persistent_volume_claim(claim, ns).spec.volume_name
    core.delete_namespaced_pod(name, ns)

    def replaced() -> Any:
        pod = core.read_namespaced_pod(name, ns)
        return pod if pod.metadata.uid != before.metadata.uid and is_ready(pod) else None

    after = wait(replaced, 240, f"{name} back and Ready")
    assert claim == next(v.persistent_volume_claim.claim_name for v in after.spec.volumes if v.persistent_volume_claim)
    assert core.read_namespaced_persistent_volume_claim(claim, ns).spec.volume_name == volume
    with PodClient(dev.kube, ns, name) as conn:
        assert collection in conn.client.list_collections()
        conn.client.load_collection(collection, timeout=60)
        rows = conn.client.query(collection, filter="id >= 0", output_fields=["id"], limit=1000)
        assert len(rows) == 200

