"""`deploytool upgrade` end to end on the local cluster.

prod goes up on the session cluster's 3 nodes: an upgrade is then refused before any change
(required anti-affinity + maxSurge 1 need a 4th node). With a 4th node the upgrade to a newer 2.6
patch passes, one helm revision per step, with the ledger intact (a user collection written here,
plus the canary) after every step. A tag refused at admission (the simulated broken tag of the
local cluster, installed here as the fault) stalls its first step: diagnosed within the bound and
rolled back to the starting revision, exit 1.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local import nodes as local_nodes
from deploytool.clusters.local.faults import POLICY
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.deploy.upgrade.ledger import CANARY, milvus_client
from deploytool.drills.faults import BROKEN_SUFFIX
from deploytool.render.versions import DEFAULT_TAG

pytestmark = pytest.mark.cluster
runner = CliRunner()
NS = "milvus-prod"
ORDER = ["mixcoord", "streamingnode", "querynode", "datanode", "proxy"]
USER_COLLECTION = "user_docs"
DETECT_BOUND_S = 15.0
# prod goes up on an older supported 2.6 patch and moves to the chart's newest confirmed one.
START, TO = "v2.6.20", DEFAULT_TAG


def cli(cluster: Any, *args: str) -> Any:
    return runner.invoke(app, [*args, "--provider", "local", "--context", cluster.name])


def helm_for(cluster: Any) -> Helm:
    return Helm(str(cluster.kubeconfig), cluster.context)


def kube_for(cluster: Any) -> Kube:
    return Kube(str(cluster.kubeconfig), cluster.context)


def live_tags(cluster: Any) -> set[str]:
    pods = cluster.core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/instance=milvus").items
    return {p.spec.containers[0].image.rsplit(":", 1)[1] for p in pods
            if (p.metadata.labels or {}).get("app.kubernetes.io/component") in ORDER
            and not p.metadata.deletion_timestamp}


def running_tag(cluster: Any) -> str:
    (tag,) = live_tags(cluster)
    return tag


@contextmanager
def tags_unpullable(cluster: Any) -> Iterator[None]:
    """The local cluster's simulated unpullable tag (its provider's fault): pods on a -broken tag are refused."""
    faults = cluster.provider.faults(kube_for(cluster))
    assert faults.simulates_image_pulls
    faults.make_unpullable(NS, BROKEN_SUFFIX)
    try:
        yield
    finally:
        faults.restore_pullable()


def revision(cluster: Any) -> int:
    return int(helm_for(cluster).history("milvus", NS)[-1]["revision"])


def write_user_data(cluster: Any, rows: int = 500) -> None:
    from pymilvus import DataType, MilvusClient

    rng = random.Random(7)
    with milvus_client(kube_for(cluster), NS, "milvus", "proxy") as milvus:
        if milvus.has_collection(USER_COLLECTION):
            milvus.drop_collection(USER_COLLECTION)
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
        milvus.create_collection(USER_COLLECTION, schema=schema)
        milvus.insert(USER_COLLECTION, [{"id": i, "vector": [rng.random() for _ in range(8)]} for i in range(rows)])
        index = milvus.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        milvus.create_index(USER_COLLECTION, index)
        milvus.load_collection(USER_COLLECTION)


def collections(cluster: Any) -> list[str]:
    with milvus_client(kube_for(cluster), NS, "milvus", "proxy") as milvus:
        return list(milvus.list_collections())


@pytest.fixture(scope="module")
def prod(local_cluster: Any) -> Iterator[Any]:
    """prod deployed by `up` on the session cluster (3 nodes), with a user collection; removed at the end."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "upgrade-test-access")
    mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "upgrade-test-secret")
    added: list[str] = []
    try:
        up = cli(local_cluster, "up", "--env", "prod", "--set", f"image.tag={START}", "--no-verify")
        assert up.exit_code == 0, up.output
        write_user_data(local_cluster)
        yield local_cluster, added
    finally:
        down = cli(local_cluster, "down", "--env", "prod", "--delete-data")
        mp.undo()
        for name in added:
            try:
                local_cluster.core.delete_node(name)
            except ApiException:
                pass
        assert down.exit_code == 0, down.output


def add_fourth_node(cluster: Any, added: list[str]) -> None:
    core = cluster.core
    before = {n.metadata.name for n in core.list_node().items}
    added += [n for n in local_nodes.create_nodes(core, 4, "16", "64Gi") if n not in before]
    deadline = time.monotonic() + 90
    while not all(n.ready for n in local_nodes.summary(core) if n.name.startswith("kwok-node-")):
        assert time.monotonic() < deadline, "node 4 never became Ready"
        time.sleep(1)


def test_too_small_cluster_is_refused_before_any_change(prod: Any) -> None:
    cluster, _ = prod
    start, tag = revision(cluster), running_tag(cluster)
    assert tag == START
    began = time.monotonic()
    result = cli(cluster, "upgrade", "--env", "prod", "--to", TO, "--output", "json")
    took = time.monotonic() - began
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["allowed"] is False and data["ok"] is False
    messages = [p["message"] for p in data["problems"] if p["rule"] == "rollout-feasible"]
    assert any(m.startswith("querynode: 3 replicas with required anti-affinity on kubernetes.io/hostname and "
                            "maxSurge 1 need 4 schedulable nodes; the cluster has 3") for m in messages), messages
    assert took < 30, f"refused in {took:.1f}s"
    assert revision(cluster) == start and live_tags(cluster) == {tag}, "nothing changed"
    assert CANARY not in collections(cluster), "no canary written for a refused plan"


def test_dry_run_prints_the_plan_and_changes_nothing(prod: Any) -> None:
    cluster, added = prod
    add_fourth_node(cluster, added)
    start, tag, to = revision(cluster), running_tag(cluster), TO
    result = cli(cluster, "upgrade", "--env", "prod", "--to", to, "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["allowed"] is True and data["problems"] == [] and data["dry_run"] is True
    assert [s["label"] for s in data["steps"]] == ORDER
    assert all(s["from"] == {s["label"]: tag} and s["to"] == to and s["strategy"] and s["downtime"]
               for s in data["steps"])
    assert revision(cluster) == start and live_tags(cluster) == {tag}


def test_upgrade_to_a_newer_patch_keeps_the_ledger(prod: Any) -> None:
    cluster, _ = prod
    start, to = revision(cluster), TO
    result = cli(cluster, "upgrade", "--env", "prod", "--to", to, "--timeout", "240", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["allowed"] and data["result"]["failed_step"] == ""
    assert [s["label"] for s in data["result"]["steps"]] == ORDER
    ledger = data["ledger"]
    assert [e["label"] for e in ledger] == ["before"] + [f"after {c}" for c in ORDER]
    for entry in ledger:
        assert entry["ok"] and entry["canary_found"] == entry["canary_total"] == 256, entry
        users = [c for c in entry["collections"] if c["name"] == USER_COLLECTION]
        assert users and users[0]["rows"] == 500 and users[0]["loaded"], entry
    assert live_tags(cluster) == {to}
    history = helm_for(cluster).history("milvus", NS)
    assert int(history[-1]["revision"]) - start == len(ORDER), "one helm revision per step"
    assert history[-1]["status"] == "deployed"
    assert CANARY not in collections(cluster), data["cleanup"]
    again = cli(cluster, "upgrade", "--env", "prod", "--to", to)
    assert again.exit_code == 0 and "nothing to do" in again.output, "idempotent"


def test_broken_tag_rolls_back_within_the_bound(prod: Any) -> None:
    cluster, _ = prod
    start, tag = revision(cluster), running_tag(cluster)
    with tags_unpullable(cluster):
        to = tag + BROKEN_SUFFIX
        began = time.monotonic()
        result = cli(cluster, "upgrade", "--env", "prod", "--to", to, "--timeout", "120", "--output", "json")
        took = time.monotonic() - began
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    outcome = data["result"]
    assert outcome["failed_step"] == "mixcoord" and outcome["rolled_back"] and outcome["rollback_ok"]
    assert outcome["causes"][0].startswith("mixcoord: milvus-mixcoord: FailedCreate"), outcome["causes"]
    assert outcome["detect_seconds"] is not None and outcome["detect_seconds"] <= DETECT_BOUND_S, outcome
    assert outcome["steps"][0]["seconds"] < 60, f"the stall was not caught early: {outcome['steps']}"
    assert took < 120, f"whole run {took:.0f}s"
    history = helm_for(cluster).history("milvus", NS)
    assert history[-1]["status"] == "deployed" and f"Rollback to {start}" in history[-1]["description"]
    assert live_tags(cluster) == {tag}
    assert all(e["ok"] for e in data["ledger"]), data["ledger"]
    assert data["ledger"][-1]["label"] == "after rollback"
    policies = client.AdmissionregistrationV1Api(cluster.api).list_validating_admission_policy().items
    assert POLICY not in {p.metadata.name for p in policies}


def test_patch_downgrade_goes_in_reverse_order(prod: Any) -> None:
    cluster, _ = prod
    assert running_tag(cluster) == TO
    result = cli(cluster, "upgrade", "--env", "prod", "--to", START, "--timeout", "240", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["direction"] == "downgrade"
    assert [s["label"] for s in data["result"]["steps"]] == list(reversed(ORDER))
    assert all(e["ok"] for e in data["ledger"]) and live_tags(cluster) == {START}


def test_standalone_upgrade_keeps_the_ledger(local_cluster: Any) -> None:
    """dev: one standalone StatefulSet, upgraded in one step; the ledger reads Milvus through it."""
    env = {"DEPLOYTOOL_S3_ACCESS_KEY": "dev-a", "DEPLOYTOOL_S3_SECRET_KEY": "dev-s"}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        up = cli(local_cluster, "up", "--env", "dev", "--set", f"image.tag={START}", "--no-verify", "--no-smoke")
        assert up.exit_code == 0, up.output
        result = cli(local_cluster, "upgrade", "--env", "dev", "--to", TO, "--timeout", "240", "--output", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [s["components"] for s in data["steps"]] == [["standalone"]]
        assert [e["label"] for e in data["ledger"]] == ["before", "after standalone"]
        assert all(e["ok"] and e["canary_found"] == 256 for e in data["ledger"]), data["ledger"]
        pods = local_cluster.core.list_namespaced_pod("milvus-dev", label_selector="app.kubernetes.io/component="
                                                      "standalone").items
        assert {p.spec.containers[0].image.rsplit(":", 1)[1] for p in pods} == {TO}
    finally:
        down = cli(local_cluster, "down", "--env", "dev", "--delete-data")
        mp.undo()
        assert down.exit_code == 0, down.output


def test_upgrade_on_the_cluster_up_creates() -> None:
    """The issue's "done when": `up --env prod` creates (and sizes) its own local cluster; `upgrade` then
    moves prod to a newer 2.6 patch with the ledger intact, no node added by hand."""
    from deploytool.clusters.local import LocalProvider

    name = f"dt-upg-{uuid.uuid4().hex[:6]}"
    where = ["--provider", "local", "--context", name]
    mp = pytest.MonkeyPatch()
    mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "upgrade-up-access")
    mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "upgrade-up-secret")
    try:
        up = runner.invoke(app, ["up", "--env", "prod", "--set", f"image.tag={START}", "--no-smoke", "--no-verify",
                                 *where])
        assert up.exit_code == 0, up.output
        result = runner.invoke(app, ["upgrade", "--env", "prod", "--to", TO, "--output", "json", *where])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [s["label"] for s in data["result"]["steps"]] == ORDER
        assert all(e["ok"] and e["canary_found"] == 256 for e in data["ledger"]), data["ledger"]
    finally:
        mp.undo()
        LocalProvider().delete(name, progress=False)
