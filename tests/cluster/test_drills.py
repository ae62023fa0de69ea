"""The drills end to end on the local cluster: prod on 4 nodes, each drill's assertions checked.

The session cluster (conftest.local_cluster) has 3 nodes; this module adds kwok-node-4 (the
provider's own node manifest) so that required anti-affinity leaves room to move, deploys prod
with `deploytool up`, and removes both at the end (`down --delete-data`, node deleted).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local import nodes as local_nodes
from deploytool.clusters.local.faults import POLICY
from deploytool.clusters.local.milvus import USAGE_CPU_ANNOTATION
from deploytool.core.helm import Helm
from deploytool.render.versions import DEFAULT_TAG

pytestmark = pytest.mark.cluster
runner = CliRunner()
NS = "milvus-prod"
ORDER = ["mixcoord", "streamingnode", "querynode", "datanode", "proxy"]
# prod starts on the chart's default tag; the drills move it to supported tags (versions.py).
START, UPGRADE_TO, HELM_TO = DEFAULT_TAG, "v3.0.1", "v3.0.2"
BROKEN = f"{HELM_TO}-broken"
PNG = b"\x89PNG\r\n\x1a\n"


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def prod4(local_cluster: Any) -> Iterator[Any]:
    """prod deployed on the session cluster grown to 4 nodes."""
    core = local_cluster.core
    before = {n.metadata.name for n in core.list_node().items}
    added = [n for n in local_nodes.create_nodes(core, 4, "16", "64Gi") if n not in before]
    deadline = time.monotonic() + 90
    while not all(n.ready for n in local_nodes.summary(core) if n.name.startswith("kwok-node-")):
        assert time.monotonic() < deadline, "node 4 never became Ready"
        time.sleep(1)
    where = ("--provider", "local", "--context", local_cluster.name)
    mp = pytest.MonkeyPatch()
    mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "drill-test-access")
    mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "drill-test-secret")
    try:
        up = cli("up", "--env", "prod", *where, "--no-verify")
        assert up.exit_code == 0, up.output
        yield local_cluster
    finally:
        down = cli("down", "--env", "prod", *where, "--delete-data")
        mp.undo()
        for name in added:
            try:
                core.delete_node(name)
            except ApiException:
                pass
        assert down.exit_code == 0, down.output


def run_drill(cluster: Any, tmp_path: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    """Run a drill through the CLI; its report goes to tmp_path, or $DEPLOYTOOL_DRILL_REPORTS/<test> (CI artifacts)."""
    keep = os.environ.get("DEPLOYTOOL_DRILL_REPORTS")
    report = Path(keep) / tmp_path.name if keep else tmp_path / "report"
    result = cli("drill", *args, "--env", "prod", "--provider", "local", "--context", cluster.name,
                 "--report", str(report), "--output", "json")
    assert (report / "data.json").is_file(), result.output
    data = json.loads((report / "data.json").read_text())
    png = (report / "timeline.png").read_bytes()
    assert png[:8] == PNG and len(png) > 20_000
    assert "## Assertions" in (report / "summary.md").read_text()
    return result, data


def verdicts(data: dict[str, Any]) -> dict[str, bool]:
    return {a["name"]: a["ok"] for a in data["assertions"]}


def seen_ok(data: dict[str, Any], name: str) -> bool:
    return verdicts(data).get(name) is True


def helm_for(cluster: Any) -> Helm:
    return Helm(str(cluster.kubeconfig), cluster.context)


def live_tags(cluster: Any, component: str | None = None) -> set[str]:
    pods = cluster.core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/instance=milvus").items
    return {p.spec.containers[0].image.rsplit(":", 1)[1] for p in pods
            if (p.metadata.labels or {}).get("app.kubernetes.io/component") in (ORDER if component is None
                                                                               else [component])}


# -- bad input ---------------------------------------------------------------------------------------


def test_unknown_env_and_missing_release_exit_2(local_cluster: Any) -> None:
    where = ("--provider", "local", "--context", local_cluster.name)
    unknown = cli("drill", "upgrade", "--env", "nope", "--to", "v9", *where)
    assert unknown.exit_code == 2 and "unknown env 'nope'" in unknown.output
    missing = cli("drill", "node-failure", "--env", "staging", *where)
    assert missing.exit_code == 2
    assert "release milvus is not installed in milvus-staging; run deploytool up --env staging" in missing.output
    assert "Traceback" not in missing.output


# -- upgrade -----------------------------------------------------------------------------------------


def test_upgrade_in_dependency_order(prod4: Any, tmp_path: Path) -> None:
    start = int(helm_for(prod4).history("milvus", NS)[-1]["revision"])
    # 2.6 -> 3.0 is a minor upgrade: the plan's backup gate wants --backup-done
    result, data = run_drill(prod4, tmp_path, "upgrade", "--to", UPGRADE_TO, "--backup-done", "--timeout", "120")
    assert result.exit_code == 0, result.output
    assert all(verdicts(data).values()), data["assertions"]
    assert data["parameters"]["steps"][:5] == ORDER
    # each component's first new-tag pod appears only after the previous component is fully rolled
    pods = data["recording"]["pod_samples"]
    first_new = {c: min(p["t"] for p in pods if p["component"] == c and p["tag"] == UPGRADE_TO) for c in ORDER}
    last_old = {c: max(p["t"] for p in pods if p["component"] == c and p["tag"] == START) for c in ORDER}
    for earlier, later in zip(ORDER, ORDER[1:], strict=False):
        assert last_old[earlier] < first_new[later], f"{later} started before {earlier} finished"
    assert live_tags(prod4) == {UPGRADE_TO}
    history = helm_for(prod4).history("milvus", NS)
    assert int(history[-1]["revision"]) - start == len(data["parameters"]["steps"]), "one revision per step"
    assert history[-1]["status"] == "deployed"
    ledger = data["parameters"]["ledger"]
    assert [e["label"] for e in ledger] == ["before"] + [f"after {c}" for c in ORDER]
    assert all(e["ok"] and e["canary_found"] == e["canary_total"] > 0 for e in ledger), ledger
    assert seen_ok(data, "every canary vector found after each step") and seen_ok(data, "no data lost")


def test_upgrade_all_at_once_with_helm(prod4: Any, tmp_path: Path) -> None:
    result, data = run_drill(prod4, tmp_path, "upgrade", "--to", HELM_TO, "--order", "helm", "--timeout", "120")
    assert result.exit_code == 0, result.output
    assert all(verdicts(data).values()), data["assertions"]
    assert data["parameters"]["steps"] == ["all components at once (helm)"]
    assert live_tags(prod4) == {HELM_TO}


def test_broken_upgrade_rolls_back_and_exits_1(prod4: Any, tmp_path: Path) -> None:
    start = int(helm_for(prod4).history("milvus", NS)[-1]["revision"])
    result, data = run_drill(prod4, tmp_path, "upgrade", "--to", BROKEN, "--timeout", "60")
    assert result.exit_code == 1, result.output
    seen = verdicts(data)
    assert seen["availability floor"] is True, "the old pods kept serving"
    assert seen[f"upgrade to {BROKEN} completed"] is False
    assert seen[f"rollback restored {HELM_TO}"] is True
    assert seen["probe kept answering"] is True
    assert seen["every canary vector found after each step"] is True and seen["no data lost"] is True
    assert [p["name"] for p in data["recording"]["phases"]][-5:-1] == ["step failed", "rollback", "rolled back",
                                                                       "ledger after rollback"]
    assert data["timings"]["stall detected after (cause visible -> decision)"] <= 15
    history = helm_for(prod4).history("milvus", NS)
    assert history[-1]["status"] == "deployed" and f"Rollback to {start}" in history[-1]["description"]
    assert live_tags(prod4) == {HELM_TO}
    policies = client.AdmissionregistrationV1Api(prod4.api).list_validating_admission_policy().items
    assert POLICY not in {p.metadata.name for p in policies}, "the simulated fault was removed"


# -- node failure ------------------------------------------------------------------------------------


def test_node_failure_moves_pods_and_recovers(prod4: Any, tmp_path: Path) -> None:
    result, data = run_drill(prod4, tmp_path, "node-failure", "--drain-bound", "10", "--timeout", "120")
    assert result.exit_code == 0, result.output
    seen = verdicts(data)
    assert seen == {"node NotReady by the node controller": True, "pods rescheduled": True,
                    "anti-affinity held": True, "Service milvus kept a ready endpoint": True, "recovered": True,
                    "probe kept answering": True}, data["assertions"]
    phases = [p["name"] for p in data["recording"]["phases"]]
    assert phases.index("node failed") < phases.index("node NotReady") < phases.index("drained") \
        < phases.index("node restored")
    assert "replacements ready" in phases, "on 4 nodes the anti-affinity replicas find a free node"
    assert data["timings"]["recovery (failure -> all at desired ready)"] > 0
    node = data["parameters"]["node"]
    assert any(s["node"] == node and not s["ready"] for s in data["recording"]["node_samples"])
    live = prod4.core.read_node(node)
    assert not live.spec.unschedulable
    assert any(c.type == "Ready" and c.status == "True" for c in live.status.conditions)


# -- autoscale ---------------------------------------------------------------------------------------


def test_autoscale_up_and_back_to_min(prod4: Any, tmp_path: Path) -> None:
    result, data = run_drill(prod4, tmp_path, "autoscale", "--timeout", "150")
    assert result.exit_code == 0, result.output
    assert all(verdicts(data).values()), data["assertions"]
    assert data["parameters"]["expected_up"] == 6  # ceil(3 x 140% / 70%)
    hpa = client.AutoscalingV2Api(prod4.api).read_namespaced_horizontal_pod_autoscaler("milvus-proxy", NS)
    assert hpa.spec.behavior is None, "the drill's short windows were removed"
    pods = prod4.core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/component=proxy").items
    assert not any(USAGE_CPU_ANNOTATION in (p.metadata.annotations or {}) for p in pods)


def test_node_failure_on_three_nodes_waits_for_the_node(prod4: Any, tmp_path: Path) -> None:
    """Last in the module: shrink to 3 nodes; replicas with required anti-affinity then have nowhere to go."""
    core = prod4.core
    core.patch_node("kwok-node-4", {"spec": {"unschedulable": True}})
    for pod in core.list_namespaced_pod(NS, field_selector="spec.nodeName=kwok-node-4").items:
        core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
    core.delete_node("kwok-node-4")
    deadline = time.monotonic() + 90
    while True:
        workloads = prod4.apps.list_namespaced_deployment(NS).items + prod4.apps.list_namespaced_stateful_set(NS).items
        if all((w.status.ready_replicas or 0) == w.spec.replicas for w in workloads):
            break
        assert time.monotonic() < deadline, "prod did not settle on 3 nodes"
        time.sleep(1)
    result, data = run_drill(prod4, tmp_path, "node-failure", "--drain-bound", "10", "--timeout", "120")
    assert result.exit_code == 0, result.output
    assert all(verdicts(data).values()), data["assertions"]
    phases = [p["name"] for p in data["recording"]["phases"]]
    assert "replacements pending" in phases
    recovered = next(a for a in data["assertions"] if a["name"] == "recovered")
    assert "after the node was restored" in recovered["observed"]
    assert "cannot all fit" in " ".join(data["notes"])
