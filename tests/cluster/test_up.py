"""`up`, `status`, `down` end to end on the local cluster, and pre-flight refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.base import ClusterSpec
from deploytool.clusters.local import LocalProvider
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.wait import wait_until
from deploytool.deploy.release import read_state

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


def _up_in_background(*args: str) -> subprocess.Popen[str]:
    """`deploytool up` as its own process group, as a shell runs it (Ctrl-C signals the group)."""
    # A shell gives its foreground job the default SIGINT disposition; a test run started in the
    # background of a non-interactive shell inherits SIGINT *ignored*, so restore the default here.
    return subprocess.Popen([sys.executable, "-m", "deploytool.cli.main", "up", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _ctrl_c_while_pending(proc: subprocess.Popen[str], helm: Helm, status: str) -> str:
    """Wait until helm has marked the release `status`, then Ctrl-C the run; its stderr."""
    try:
        wait_until(lambda: read_state(helm, "milvus", "milvus-dev").status == status, 240, 0.5,
                   f"the release to be {status}")
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"never {status}: {proc.communicate()[1][-2000:]}") from None
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "✗ helm upgrade --install" in err and "interrupted" in err, err
    return err


def test_interrupted_up_leaves_no_pending_release_and_the_next_up_converges(local_cluster, creds) -> None:
    """Ctrl-C during the helm step, of an install and of an upgrade: the release is settled (never
    left pending-*), and the next `up` converges. A ResourceQuota of 0 pods holds helm in its wait
    (pending) long enough to interrupt it there; deleting the quota lets the next `up` finish."""
    where = ["--provider", "local", "--context", local_cluster.name, "--no-smoke", "--no-verify"]
    kube = Kube(str(local_cluster.kubeconfig), local_cluster.context)
    helm = Helm(str(local_cluster.kubeconfig), local_cluster.context)
    quota = {"metadata": {"name": "hold-pods"}, "spec": {"hard": {"pods": "0"}}}
    kube.core.create_namespace({"metadata": {"name": "milvus-dev"}})
    try:
        kube.core.create_namespaced_resource_quota("milvus-dev", quota)
        _ctrl_c_while_pending(_up_in_background("--env", "dev", *where), helm, "pending-install")
        assert read_state(helm, "milvus", "milvus-dev").history == (), "a first install that never deployed is gone"

        kube.core.delete_namespaced_resource_quota("hold-pods", "milvus-dev")
        first = cli("up", "--env", "dev", *where, "--output", "json")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["revision"] == 1

        kube.core.create_namespaced_resource_quota("milvus-dev", quota)
        _ctrl_c_while_pending(_up_in_background("--env", "dev", *where, "--set", "config.proxy.maxNameLength=300"),
                              helm, "pending-upgrade")
        state = read_state(helm, "milvus", "milvus-dev")
        assert state.deployed and state.revision == 3, state.history  # 2 was the upgrade, 3 the rollback to 1
        assert "Rollback to 1" in str(state.history[-1].get("description")), state.history

        kube.core.delete_namespaced_resource_quota("hold-pods", "milvus-dev")
        again = cli("up", "--env", "dev", *where, "--output", "json")
        assert again.exit_code == 0, again.output
        helm_step = next(s for s in json.loads(again.stdout)["steps"] if s["name"] == "helm upgrade --install")
        assert "unchanged (revision 3)" in helm_step["detail"], "the rollback restored the desired state"
    finally:
        assert cli("down", "--env", "dev", "--provider", "local", "--context", local_cluster.name,
                   "--delete-data").exit_code == 0


def test_up_sizes_a_new_cluster_so_prod_can_roll(creds) -> None:
    """A cluster `up` creates holds prod *while rolling*: 3 replicas + maxSurge 1 under required
    anti-affinity need 4 nodes (the old fixed default of 3 could never roll proxy or querynode)."""
    name = f"dt-size-{uuid.uuid4().hex[:6]}"
    try:
        result = cli("up", "--env", "prod", "--provider", "local", "--context", name, "--no-smoke", "--no-verify",
                     "--output", "json")
        assert result.exit_code == 0, result.output
        steps = {s["name"]: s["detail"] for s in json.loads(result.stdout)["steps"]}
        assert steps["plan"].endswith(f"will create local/{name} with 4 nodes; credentials from environment; "
                                      "then no checks")
        assert f"local/{name} created with 4 nodes (proxy, querynode: 3 replicas + maxSurge 1" in steps["cluster"]
        assert "4 nodes have" in steps["pre-flight"] and "warning" not in steps["pre-flight"]
        ref = LocalProvider().ref(name)
        assert len(Kube(str(ref.kubeconfig), ref.context).core.list_node().items) == 4
    finally:
        LocalProvider().delete(name, progress=False)


def test_preflight_warns_that_prod_cannot_roll_on_three_nodes(local_cluster, creds) -> None:
    where = ["--provider", "local", "--context", local_cluster.name]
    try:
        result = cli("up", "--env", "prod", *where, "--no-smoke", "--no-verify", "--output", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert {w.split(":")[0] for w in data["preflight"]["warnings"]} == {"milvus-proxy", "milvus-querynode"}
        preflight = next(s for s in data["steps"] if s["name"] == "pre-flight")["detail"]
        assert "warning: milvus-" in preflight and "one more kubernetes.io/hostname domain" in preflight
    finally:
        assert cli("down", "--env", "prod", *where, "--delete-data").exit_code == 0


def test_new_credentials_replace_the_secret_and_restart_the_pods(local_cluster, monkeypatch) -> None:
    where = ["--provider", "local", "--context", local_cluster.name, "--no-smoke", "--no-verify"]
    monkeypatch.delenv("DEPLOYTOOL_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("DEPLOYTOOL_S3_SECRET_KEY", raising=False)
    try:
        first = cli("up", "--env", "dev", *where, "--output", "json")
        assert first.exit_code == 0, first.output
        assert "restart for new credentials" not in [s["name"] for s in json.loads(first.stdout)["steps"]]
        monkeypatch.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "rotated-access")
        monkeypatch.setenv("DEPLOYTOOL_S3_SECRET_KEY", "rotated-secret")
        second = cli("up", "--env", "dev", *where, "--output", "json")
        assert second.exit_code == 0, second.output
        steps = {s["name"]: s["detail"] for s in json.loads(second.stdout)["steps"]}
        assert steps["credentials Secret"].startswith("updated") and steps["credentials"] == "from environment"
        assert steps["restart for new credentials"] == "restarted 1 workloads for the new credentials"
        third = cli("up", "--env", "dev", *where, "--output", "json")
        steps = {s["name"]: s["detail"] for s in json.loads(third.stdout)["steps"]}
        assert "restart for new credentials" not in steps and steps["credentials"] == "existing Secret kept"
    finally:
        assert cli("down", "--env", "dev", *where[:4], "--delete-data").exit_code == 0
