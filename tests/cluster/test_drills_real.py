"""Card 9 on real nodes: `drill upgrade` of staging on three real nodes, probed through the real proxy pods.

One cluster for the module (`up --env staging --real-nodes 3` on v2.6.23; deleted at the end, also
on failure): the upgrade to v2.6.24 has the provider build and import the target's stand-in image
before its first step and rolls every role with 0 probe errors; a tag never built (v2.6.24-broken)
is a real ErrImageNeverPull on the kubelets, seen by the stall diagnosis and rolled back, with no
admission policy; a mixcoord surging without active-standby fails to register its exclusive session
on a real pod and the same diagnosis names it. Reports go to tmp dirs (or $DEPLOYTOOL_DRILL_REPORTS).
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
from real_up import STANDIN, UpCluster, up_on_real_nodes, wait

from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.clusters.local.faults import POLICY
from deploytool.core.conditions import is_ready
from deploytool.core.helm import Helm
from deploytool.core.labels import release_selector
from deploytool.deploy.upgrade.stall import StallTracker, diagnose, read_state

pytestmark = pytest.mark.cluster

NS = "milvus-staging"
ORDER = ["mixcoord", "streamingnode", "querynode", "datanode", "proxy"]
START, TO = "v2.6.23", "v2.6.24"  # two known 2.6 releases (render/versions.py): both get a stand-in image
NEVER_BUILT = f"{TO}-broken"  # not a known release: no image is built under this tag
SELECTOR = release_selector("milvus")


@pytest.fixture(scope="module")
def staging(cluster_lifetime: Any) -> Iterator[UpCluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "real-drill-access")
        mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "real-drill-secret")
        yield from up_on_real_nodes(cluster_lifetime, "staging", 3, "--set", f"image.tag={START}", "--no-verify",
                                    prefix="rn-upgrade")


def drill(cluster: UpCluster, tmp_path: Path, *args: str) -> tuple[Any, dict[str, Any], str]:
    keep = os.environ.get("DEPLOYTOOL_DRILL_REPORTS")
    report = Path(keep) / tmp_path.name if keep else tmp_path / "report"
    started = time.monotonic()
    result = cluster.cli("drill", "upgrade", "--env", "staging", *args, "--report", str(report), "--output", "json")
    print(f"drill upgrade {' '.join(args)}: exit {result.exit_code} in {time.monotonic() - started:.0f}s")
    assert (report / "data.json").is_file(), result.output
    return result, json.loads((report / "data.json").read_text()), (report / "summary.md").read_text()


def verdicts(data: dict[str, Any]) -> dict[str, bool]:
    return {a["name"]: a["ok"] for a in data["assertions"]}


def milvus_pods(cluster: UpCluster, terminating: bool = False) -> list[Any]:
    """The release's Milvus pods; those terminating (an old proxy in its 30 s preStop sleep) only if asked."""
    return [p for p in cluster.kube.core.list_namespaced_pod(NS, label_selector=SELECTOR).items
            if (p.metadata.labels or {}).get("app.kubernetes.io/component") in ORDER
            and (terminating or not p.metadata.deletion_timestamp)]


def settled(cluster: UpCluster) -> None:
    """Wait until the pods a previous step replaced are gone (real pods take their grace period)."""
    wait(lambda: not [p for p in milvus_pods(cluster, terminating=True) if p.metadata.deletion_timestamp]
         and all(is_ready(p) for p in milvus_pods(cluster)), 180, "no Milvus pod terminating, all ready")


def tags(cluster: UpCluster) -> set[str]:
    return {p.spec.containers[0].image.rsplit(":", 1)[1] for p in milvus_pods(cluster)}


def test_upgrade_rolls_every_role_on_real_nodes_with_no_probe_error(staging: UpCluster, tmp_path: Path) -> None:
    assert tags(staging) == {START}
    result, data, summary = drill(staging, tmp_path, "--to", TO, "--timeout", "240")
    assert result.exit_code == 0, result.output
    assert all(verdicts(data).values()), data["assertions"]
    assert data["parameters"]["pods"] == "real" and data["parameters"]["steps"] == ORDER
    # the provider built the target's stand-in and imported it into the three nodes before the first step
    prepared = data["parameters"]["prepared"]
    assert f"milvus-standin:{TO}" in prepared and "in 3 real node(s) (1 imported" in prepared, prepared
    assert "shared engine milvus-standin-engine exists (left as it is)" in prepared, prepared
    phases = [p["name"] for p in data["recording"]["phases"]]
    assert phases.index("provider prerequisites done") < phases.index("upgrade mixcoord")
    # the probe searched through real proxy pods the whole time, and none of its searches failed
    searches = [s for s in data["recording"]["probe_samples"] if s["kind"] == "search"]
    assert searches and all(s["ok"] for s in searches), [s for s in searches if not s["ok"]][:3]
    assert {s["pod"].rsplit("-", 2)[0] for s in searches} == {"milvus-proxy"}
    assert len({s["pod"] for s in searches}) >= 2, "the probe moved off the proxies being replaced"
    assert "0 error(s)" in next(a["observed"] for a in data["assertions"] if a["name"] == "probe kept answering")
    # mixcoord (active-standby off) is Recreate: no second mixcoord ever ran beside the first
    mixcoord = next(s for s in data["parameters"]["plan"]["steps"] if s["label"] == "mixcoord")
    assert mixcoord["strategy"].startswith("Recreate (active-standby off")
    samples = [p for p in data["recording"]["pod_samples"] if p["component"] == "mixcoord"]
    assert max(p["t"] for p in samples if p["tag"] == START) <= min(p["t"] for p in samples if p["tag"] == TO)
    # every role now runs the target as a real container on a real node
    real = {n.metadata.name for n in staging.kube.core.list_node().items
            if (n.metadata.labels or {}).get(NODE_KIND_LABEL) == REAL}
    for pod in milvus_pods(staging):
        assert pod.spec.containers[0].image == f"{STANDIN}:{TO}" and pod.spec.node_name in real
        status = pod.status.container_statuses[0]
        assert status.state.running and status.container_id.startswith("containerd://"), pod.metadata.name
    assert "## Assertions" in summary and "provider prerequisites" in summary


def test_a_never_built_tag_is_a_real_err_image_never_pull_and_rolls_back(staging: UpCluster, tmp_path: Path) -> None:
    settled(staging)
    before = tags(staging)
    assert len(before) == 1
    (from_tag,) = before
    start = int(Helm(staging.kube.kubeconfig, staging.kube.context).history("milvus", NS)[-1]["revision"])
    result, data, summary = drill(staging, tmp_path, "--to", NEVER_BUILT, "--timeout", "120")
    assert result.exit_code == 1, result.output
    seen = verdicts(data)
    assert seen[f"upgrade to {NEVER_BUILT} completed"] is False
    assert seen[f"rollback restored {from_tag}"] is True
    assert seen["probe kept answering"] is True and seen["availability floor"] is True
    assert seen["every canary vector found after each step"] is True and seen["no data lost"] is True
    failed = next(a for a in data["assertions"] if a["name"] == f"upgrade to {NEVER_BUILT} completed")
    assert any("ErrImageNeverPull" in e for e in failed["evidence"]), failed
    assert data["parameters"]["pods"] == "real"
    assert f"{NEVER_BUILT} not built" in data["parameters"]["prepared"]
    assert "nothing is simulated" in " ".join(data["notes"])
    assert "fault installed" not in [p["name"] for p in data["recording"]["phases"]]
    policies = client.AdmissionregistrationV1Api(staging.kube.api).list_validating_admission_policy().items
    assert POLICY not in {p.metadata.name for p in policies}, "no admission-policy trick on real nodes"
    assert "ErrImageNeverPull" in summary and "rolled back" in summary
    history = Helm(staging.kube.kubeconfig, staging.kube.context).history("milvus", NS)
    assert history[-1]["status"] == "deployed" and f"Rollback to {start}" in history[-1]["description"]
    assert tags(staging) == {from_tag}


SURGE_ANNOTATION = "deploytool.io~1surge-test"  # JSON-pointer escaped "deploytool.io/surge-test"


def test_a_surging_mixcoord_without_active_standby_is_caught(staging: UpCluster) -> None:
    """What the chart's Recreate for mixcoord prevents (rule mixcoord-exclusive-session), made out of
    band as a chart without that rule would render it: the second mixcoord cannot register its
    exclusive session, crash-loops, and the upgrade's stall diagnosis names it while the first stays Ready."""
    settled(staging)
    kube, apps = staging.kube, staging.kube.apps
    name = "milvus-mixcoord"
    (active,) = [p.metadata.name for p in milvus_pods(staging) if p.metadata.labels["app.kubernetes.io/component"]
                 == "mixcoord"]
    (tag,) = tags(staging)
    apps.patch_namespaced_deployment(name, NS, [
        {"op": "replace", "path": "/spec/strategy",
         "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
        {"op": "add", "path": f"/spec/template/metadata/annotations/{SURGE_ANNOTATION}", "value": "1"}])
    try:
        tracker = StallTracker(grace_s=5)
        deadline = time.monotonic() + 180
        caught: list[Any] = []
        while not caught:
            assert time.monotonic() < deadline, "the surging mixcoord was never diagnosed"
            pods, conditions = read_state(kube, NS, SELECTOR)
            first = next(p for p in pods if p.name == active)
            assert first.ready, "the active mixcoord stayed Ready"
            caught = [c for c in tracker.observe(diagnose(pods, conditions, ["mixcoord"], tag), time.monotonic())
                      if c.subject != active]
            time.sleep(1)
        assert caught[0].reason in ("CrashLoopBackOff", "ReadinessFailing"), caught
        print(f"surging mixcoord caught: {caught[0]}")
        surge = caught[0].subject

        def register_failed() -> bool:
            logs = ""
            for previous in (True, False):
                try:
                    logs += kube.core.read_namespaced_pod_log(surge, NS, previous=previous)
                except ApiException:
                    pass
            return "Register failed" in logs

        wait(register_failed, 90, f"{surge} to log its failed session registration", interval=2)
    finally:
        apps.patch_namespaced_deployment(name, NS, [
            {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
            {"op": "remove", "path": f"/spec/template/metadata/annotations/{SURGE_ANNOTATION}"}])

    def back() -> bool:
        mixcoords = [p for p in milvus_pods(staging, terminating=True)
                     if p.metadata.labels["app.kubernetes.io/component"] == "mixcoord"]
        return [p.metadata.name for p in mixcoords] == [active] and is_ready(mixcoords[0])

    wait(back, 120, "mixcoord back to its one active pod")
