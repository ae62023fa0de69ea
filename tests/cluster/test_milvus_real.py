"""The chart on real nodes: `up --real-nodes` runs the env's pods as real containers of the images
built here (Milvus stand-in, etcd, MinIO), and what the seed cards promise holds on real processes.

Each module-scoped cluster is made by `up` itself (one cluster with real nodes per machine: the
fixture waits for another session's to go) and deleted at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.clusters.local import LocalProvider, hostslot, realnodes
from deploytool.clusters.local.layout import Layout
from deploytool.core.conditions import is_ready
from deploytool.core.kube import Kube
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection

pytestmark = pytest.mark.cluster
runner = CliRunner()
STANDIN = "localhost/deploytool/milvus-standin"


@dataclass
class UpCluster:
    name: str
    kube: Kube
    first: dict[str, Any]  # `up --output json` of the run that created the cluster
    seconds: float

    def cli(self, *args: str) -> Any:
        return runner.invoke(app, [*args, "--provider", "local", "--context", self.name])


def _wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except ApiException:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _skip_unless_real_nodes(provider: LocalProvider) -> None:
    ok, why = provider.available()
    try:
        realnodes.check_available()
    except Exception as exc:  # noqa: BLE001 - reported below
        ok, why = False, str(exc)
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"real nodes unavailable in CI: {why}")
        pytest.skip(f"real nodes unavailable (make tools installs and builds them): {why}")


def up_on_real_nodes(cluster_lifetime: Any, env: str, real_nodes: int) -> Iterator[UpCluster]:
    provider = LocalProvider()
    _skip_unless_real_nodes(provider)
    name = f"dt-mreal-{uuid.uuid4().hex[:6]}"
    hostslot.wait_free(name, timeout=900)  # another session's cluster with real nodes
    with cluster_lifetime(provider, name):
        for attempt in range(3):  # another session may take the machine's real-node slot first
            started = time.monotonic()
            result = runner.invoke(app, ["up", "--env", env, "--provider", "local", "--context", name,
                                         "--real-nodes", str(real_nodes), "--output", "json"])
            if result.exit_code == 0 or "has real nodes" not in result.output or attempt == 2:
                break
            hostslot.wait_free(name, timeout=900)
        assert result.exit_code == 0, result.output
        ref = provider.ref(name)
        yield UpCluster(name, Kube(str(ref.kubeconfig), ref.context), json.loads(result.stdout),
                        time.monotonic() - started)


@pytest.fixture(scope="module")
def dev(cluster_lifetime: Any, monkeypatch_module: Any) -> Iterator[UpCluster]:
    yield from up_on_real_nodes(cluster_lifetime, "dev", 1)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DEPLOYTOOL_S3_ACCESS_KEY", raising=False)  # dev generates its own
        mp.delenv("DEPLOYTOOL_S3_SECRET_KEY", raising=False)
        yield mp


def _step(data: dict[str, Any], name: str) -> str:
    return str(next(s for s in data["steps"] if s["name"] == name)["detail"])


def test_dev_up_runs_the_chart_as_real_containers_of_images_built_here(dev: UpCluster) -> None:
    data = dev.first
    assert data["ok"] and data["changed"] and data["revision"] == 1
    assert "images built here" in _step(data, "plan")
    assert "milvus-standin:v2.6.24" in _step(data, "provider prerequisites")
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

    after = _wait(replaced, 240, f"{name} back and Ready")
    assert claim == next(v.persistent_volume_claim.claim_name for v in after.spec.volumes if v.persistent_volume_claim)
    assert core.read_namespaced_persistent_volume_claim(claim, ns).spec.volume_name == volume
    with PodClient(dev.kube, ns, name) as conn:
        assert collection in conn.client.list_collections()
        conn.client.load_collection(collection, timeout=60)
        rows = conn.client.query(collection, filter="id >= 0", output_fields=["id"], limit=1000)
        assert len(rows) == 200
