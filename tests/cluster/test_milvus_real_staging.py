"""staging on three real nodes: etcd x3 as a real quorum, MinIO, every Milvus role as a real stand-in
process, the proxies in front of one shared engine; `verify` reads /healthz from the real pods."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from real_up import UpCluster, step, up_on_real_nodes

from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.core.conditions import is_ready
from deploytool.core.kube import Kube
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection

pytestmark = pytest.mark.cluster


STAGING_SETS = ("--set", "etcd.replicas=3")  # staging's env keeps 1 member; a real 3-member quorum is shown here


@pytest.fixture(scope="module")
def staging(cluster_lifetime: Any) -> Iterator[UpCluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "real-staging-access")
        mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "real-staging-secret")
        yield from up_on_real_nodes(cluster_lifetime, "staging", 3, *STAGING_SETS)


def _etcd_members(kube: Kube, ns: str, pod: str) -> list[str]:
    import urllib.request

    from deploytool.core.portforward import PodPortForward

    with PodPortForward(kube.core, ns, pod, 2379) as port:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v3/cluster/member/list", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as resp:
            return sorted(m["name"] for m in json.loads(resp.read())["members"])


def test_staging_on_three_real_nodes_runs_every_role_as_a_real_process(staging: UpCluster) -> None:
    data, core, ns = staging.first, staging.kube.core, "milvus-staging"
    assert data["ok"] and data["smoke"]["inserted"] == 1000
    assert "requests and limits scaled to fit the real nodes" in step(data, "plan")
    assert "shared engine milvus-standin-engine" in step(data, "provider prerequisites")
    real = {n.metadata.name for n in core.list_node().items if n.metadata.labels.get(NODE_KIND_LABEL) == REAL}
    assert len(real) == 3
    pods = core.list_namespaced_pod(ns).items
    roles = {p.metadata.labels.get("app.kubernetes.io/component") for p in pods}
    assert {"proxy", "mixcoord", "querynode", "datanode", "streamingnode", "etcd", "minio"} <= roles
    for pod in pods:
        assert pod.spec.node_name in real and is_ready(pod), pod.metadata.name
        for c, s in zip(pod.spec.containers, pod.status.container_statuses, strict=True):
            assert c.image.startswith("localhost/deploytool/") and c.image_pull_policy == "Never"
            assert s.container_id.startswith("containerd://") and s.state.running
    # etcd: a real 3-member cluster, formed over the headless Service's names, answering from each member
    for member in ("milvus-etcd-0", "milvus-etcd-1", "milvus-etcd-2"):
        assert _etcd_members(staging.kube, ns, member) == ["milvus-etcd-0", "milvus-etcd-1", "milvus-etcd-2"]


def test_staging_verify_reads_healthz_from_real_pods(staging: UpCluster) -> None:
    result = staging.cli("verify", "--env", "staging", *STAGING_SETS, "--output", "json")
    assert result.exit_code == 0, result.output
    milvus = next(r for r in json.loads(result.stdout)["results"] if r["name"] == "milvus")
    assert milvus["status"] == "pass"
    evidence = " ".join(milvus["evidence"])
    assert "not checked" not in evidence
    for role in ("proxy", "mixcoord", "querynode", "datanode", "streamingnode"):
        assert f"milvus-{role}-" in evidence and "/healthz: OK" in evidence, role


def test_both_proxies_serve_the_same_data_through_the_shared_engine(staging: UpCluster) -> None:
    core, ns = staging.kube.core, "milvus-staging"
    proxies = sorted(p.metadata.name for p in core.list_namespaced_pod(
        ns, label_selector="app.kubernetes.io/component=proxy").items if is_ready(p))
    assert len(proxies) >= 2
    collection = f"shared_{uuid.uuid4().hex[:6]}"
    with PodClient(staging.kube, ns, proxies[0]) as conn:
        assert create_loaded_collection(conn.client, collection, 8, [[float(i)] * 8 for i in range(50)]) == 50
    with PodClient(staging.kube, ns, proxies[1]) as conn:
        rows = conn.client.query(collection, filter="id >= 0", output_fields=["id"], limit=100)
        assert len(rows) == 50
        conn.client.drop_collection(collection)
