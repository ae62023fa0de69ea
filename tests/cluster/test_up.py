"""`up`, `status`, `down` end to end on the local cluster, and pre-flight refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.base import ClusterSpec
from deploytool.clusters.local import LocalProvider
from deploytool.core.kube import Kube

pytestmark = pytest.mark.cluster
runner = CliRunner()


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "up-test-access")
    monkeypatch.setenv("DEPLOYTOOL_S3_SECRET_KEY", "up-test-secret")


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_up_is_idempotent_status_and_down(local_cluster, creds, env: str) -> None:
    where = ["--provider", "local", "--context", local_cluster.name]
    first = cli("up", "--env", env, *where, "--output", "json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["ok"] and data["changed"] and data["revision"] == 1
    assert data["smoke"]["inserted"] == 1000  # run_smoke raises unless the top hit is the query itself
    assert all(r["status"] != "fail" for r in data["verify"])
    try:
        second = cli("up", "--env", env, *where, "--output", "json")
        assert second.exit_code == 0, second.output
        again = json.loads(second.stdout)
        assert again["changed"] is False and again["revision"] == 1, "a second up changes nothing"
        helm_step = next(s for s in again["steps"] if s["name"] == "helm upgrade --install")
        assert "unchanged (revision 1)" in helm_step["detail"]

        status = cli("status", "--env", env, *where, "--output", "json")
        assert status.exit_code == 0, status.output
        state = json.loads(status.stdout)
        assert state["revision"] == 1 and state["healthy"]
        assert all(c["desired"] == c["ready"] == c["updated"] for c in state["components"])
        assert sum(len(p) for p in state["pods_by_node"].values()) >= len(state["components"])
        text = cli("status", "--env", env, *where)
        assert "pods per node:" in text.output
    finally:
        down = cli("down", "--env", env, *where, "--delete-data", "--output", "json")
    assert down.exit_code == 0, down.output
    kube = Kube(str(local_cluster.kubeconfig), local_cluster.context)
    assert f"milvus-{env}" not in {ns.metadata.name for ns in kube.core.list_namespace().items}
    assert cli("down", "--env", env, *where).exit_code == 0, "down is idempotent"


def test_down_keeps_pvcs_unless_asked(local_cluster, creds) -> None:
    where = ["--provider", "local", "--context", local_cluster.name]
    assert cli("up", "--env", "dev", *where, "--no-verify").exit_code == 0
    kept = cli("down", "--env", "dev", *where)
    assert kept.exit_code == 0 and "kept: it holds 1 PVC(s)" in kept.output
    kube = Kube(str(local_cluster.kubeconfig), local_cluster.context)
    assert [p.metadata.name for p in kube.core.list_namespaced_persistent_volume_claim("milvus-dev").items] == [
        "data-milvus-standalone-0"]
    assert cli("down", "--env", "dev", *where, "--delete-data").exit_code == 0


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[str]:
    name = f"dt-small-{uuid.uuid4().hex[:6]}"
    provider = LocalProvider()
    provider.create(name, ClusterSpec(nodes=2, node_cpu="4", node_memory="16Gi"), progress=False)
    try:
        yield name
    finally:
        provider.delete(name, progress=False)


def test_preflight_refuses_a_cluster_too_small_for_prod_and_applies_nothing(small_cluster, creds) -> None:
    result = cli("up", "--env", "prod", "--provider", "local", "--context", small_cluster, "--output", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert "cannot hold env 'prod'" in data["error"] and "nothing applied" in data["error"]
    assert any("querynode replica 3/3" in d and "required anti-affinity" in d for d in data["details"])
    assert [s["name"] for s in data["steps"]][-1] == "pre-flight"
    ref = LocalProvider().ref(small_cluster)
    kube = Kube(str(ref.kubeconfig), ref.context)
    assert "milvus-prod" not in {ns.metadata.name for ns in kube.core.list_namespace().items}


def test_bad_input_exits_2_before_touching_the_cluster(local_cluster) -> None:
    where = ["--provider", "local", "--context", local_cluster.name]
    unknown = cli("up", "--env", "nope", *where)
    assert unknown.exit_code == 2 and "unknown env 'nope'" in unknown.output
    invalid = cli("up", "--env", "prod", *where, "--set", "queryNode.replicas=-1")
    assert invalid.exit_code == 2 and "queryNode.replicas: -1 is less than the minimum of 0" in invalid.output
    missing = cli("status", "--env", "dev", "--provider", "local", "--context", "no-such-cluster")
    assert missing.exit_code == 2 and "no local cluster named 'no-such-cluster'" in missing.output


def test_prod_needs_credentials(local_cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPLOYTOOL_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("DEPLOYTOOL_S3_SECRET_KEY", raising=False)
    result = cli("up", "--env", "prod", "--provider", "local", "--context", local_cluster.name)
    assert result.exit_code == 2 and "needs object-storage credentials" in result.output
    kube = Kube(str(local_cluster.kubeconfig), local_cluster.context)
    assert "milvus-prod" not in {ns.metadata.name for ns in kube.core.list_namespace().items}
