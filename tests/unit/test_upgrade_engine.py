"""The upgrade engine's pure parts: stall diagnosis and its timing, the ledger comparison, step values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from deploytool.deploy.upgrade.ledger import CollectionState, LedgerEntry, canary_vectors, compare
from deploytool.deploy.upgrade.plan import ORDER, component_tag, step_values
from deploytool.deploy.upgrade.stall import PodState, StallTracker, WorkloadCondition, diagnose
from deploytool.render import manifests
from deploytool.render.values import Layers

NEW = "v2.6.23"


def pod(**kw: Any) -> PodState:
    base: dict[str, Any] = {"name": "milvus-querynode-abc", "component": "querynode", "tag": NEW, "phase": "Pending"}
    return PodState(**(base | kw))


STALLS = [
    ("unschedulable", [pod(unschedulable="0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules")],
     [], "Unschedulable"),
    ("image pull", [pod(waiting=(("ErrImagePull", "manifest unknown"),))], [], "ErrImagePull"),
    ("image backoff", [pod(waiting=(("ImagePullBackOff", "Back-off pulling image"),))], [], "ImagePullBackOff"),
    ("image never pulled (pull policy Never, not on the node)",
     [pod(waiting=(("ErrImageNeverPull", 'Container image "localhost/deploytool/milvus-standin:v2.6.23" is not '
                                         'present with pull policy of Never'),))], [], "ErrImageNeverPull"),
    ("crash loop", [pod(phase="Running", waiting=(("CrashLoopBackOff", "back-off 10s restarting"),))], [],
     "CrashLoopBackOff"),
    ("readiness failing", [pod(phase="Running", started=True, ready=False, not_ready_s=45, readiness_window_s=30)],
     [], "ReadinessFailing"),
    ("admission refused", [], [WorkloadCondition("querynode", "milvus-querynode", "ReplicaFailure", "True",
                                                 "FailedCreate", "pods \"x\" is forbidden: image cannot start")],
     "FailedCreate"),
]


@pytest.mark.parametrize(("pods", "conditions", "reason"), [s[1:] for s in STALLS], ids=[s[0] for s in STALLS])
def test_each_cause_is_diagnosed(pods: list[PodState], conditions: list[WorkloadCondition], reason: str) -> None:
    (cause,) = diagnose(pods, conditions, ["querynode"], NEW)
    assert cause.reason == reason and cause.component == "querynode"


HEALTHY = [
    ("starting, readiness still within its window", [pod(phase="Running", started=True, not_ready_s=12,
                                                         readiness_window_s=30)], []),
    ("pending but scheduled", [pod(phase="Pending")], []),
    ("old pod of the component", [pod(tag="v2.6.22", unschedulable="0/3 nodes")], []),
    ("another component", [pod(component="proxy", waiting=(("ErrImagePull", ""),))], []),
    ("terminating", [pod(terminating=True, waiting=(("CrashLoopBackOff", ""),))], []),
    ("progressing condition", [], [WorkloadCondition("querynode", "milvus-querynode", "Progressing", "True",
                                                     "ReplicaSetUpdated", "")]),
]


@pytest.mark.parametrize(("pods", "conditions"), [s[1:] for s in HEALTHY], ids=[s[0] for s in HEALTHY])
def test_progressing_rollouts_are_not_stalls(pods: list[PodState], conditions: list[WorkloadCondition]) -> None:
    assert diagnose(pods, conditions, ["querynode"], NEW) == []


def test_a_cause_counts_after_the_grace_and_resets_when_gone() -> None:
    tracker = StallTracker(grace_s=5)
    (cause,) = diagnose([pod(unschedulable="0/3 nodes")], [], ["querynode"], NEW)
    assert tracker.observe([cause], 100.0) == []
    assert tracker.observe([cause], 104.0) == []
    assert tracker.observe([], 104.5) == [], "the pod got scheduled"
    assert tracker.observe([cause], 105.0) == []
    assert tracker.observe([cause], 110.0) == [cause]
    assert tracker.visible_since(cause) == 105.0


# -- ledger ---------------------------------------------------------------------------------------------

def entry(label: str, rows: int = 100, found: int = 256, indexes: tuple[str, ...] = ("vector",),
          loaded: bool = True, collections: int = 2, error: str = "") -> LedgerEntry:
    cols = [CollectionState("default", f"c{i}", rows, indexes, loaded) for i in range(collections)]
    return LedgerEntry(label, 0.0, cols, ["default"], 256, found, list(range(found, 256)), error)


LOSSES = [
    ("intact", entry("after"), []),
    ("more rows is fine", entry("after", rows=150), []),
    ("rows went down", entry("after", rows=90), ["default.c0: rows went down from 100 to 90",
                                                 "default.c1: rows went down from 100 to 90"]),
    ("collection gone", entry("after", collections=1), ["default.c1: collection gone"]),
    ("index gone", entry("after", indexes=()), ["default.c0: index(es) gone: vector",
                                                "default.c1: index(es) gone: vector"]),
    ("unloaded", entry("after", loaded=False), ["default.c0: was loaded, is not any more",
                                                "default.c1: was loaded, is not any more"]),
    ("canary vectors missing", entry("after", found=250),
     ["canary: 250/256 vectors found by exact search (missing ids 250, 251, 252, 253, 254, 255)"]),
    ("milvus unreadable", entry("after", error="MilvusException: timeout"),
     ["Milvus could not be read: MilvusException: timeout"]),
]


@pytest.mark.parametrize(("after", "problems"), [c[1:] for c in LOSSES], ids=[c[0] for c in LOSSES])
def test_ledger_comparison(after: LedgerEntry, problems: list[str]) -> None:
    assert compare(entry("before"), after) == problems


def test_ledger_entry_ok_needs_every_canary_vector() -> None:
    assert entry("x").ok and not entry("x", found=255).ok and not entry("x", error="boom").ok


def test_canary_vectors_are_reproducible() -> None:
    assert canary_vectors(8) == canary_vectors(8)
    assert len({tuple(v["vector"]) for v in canary_vectors(256)}) == 256


# -- values per step (rendered by the real chart) -----------------------------------------------------

def rendered_tags(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for obj in manifests.render(Layers("prod", overlay=values)).objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            out[obj["metadata"]["labels"]["app.kubernetes.io/component"]] = image.rsplit(":", 1)[1]
    return out


def test_each_step_moves_exactly_its_component() -> None:
    start = Layers("prod").merged()
    old = component_tag(start, "proxy")
    for i in range(len(ORDER)):
        tags = rendered_tags(step_values(start, NEW, list(ORDER), set(ORDER[: i + 1])))
        assert {c for c in ORDER if tags[c] == NEW} == set(ORDER[: i + 1]), f"step {i + 1}"
        assert {c for c in ORDER if tags[c] == old} == set(ORDER[i + 1:])
        assert NEW not in (tags["etcd"], tags["minio"]), "etcd/MinIO keep their own images"


def test_pins_come_from_the_live_tags() -> None:
    values = step_values({"image": {"tag": "v2.6.22"}}, NEW, ["mixcoord", "proxy"], {"mixcoord"},
                         pins={"proxy": "v2.6.21"})
    assert values["proxy"]["image"]["tag"] == "v2.6.21" and "image" not in values["mixCoord"]


def test_last_step_equals_a_plain_upgrade() -> None:
    start = Layers("prod").merged()
    last = step_values(start, NEW, list(ORDER), set(ORDER))
    plain = copy.deepcopy(start)
    plain["image"]["tag"] = NEW
    assert manifests.render(Layers("prod", overlay=last)).objects == manifests.render(
        Layers("prod", overlay=plain)).objects


# -- CLI ------------------------------------------------------------------------------------------------

def test_upgrade_help_has_examples_and_exit_codes() -> None:
    from typer.testing import CliRunner

    from deploytool.cli.main import app

    result = CliRunner().invoke(app, ["upgrade", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("deploytool upgrade --env prod --to v2.6.24 --dry-run", "--allow-downgrade", "--backup-done",
                 "0 done (or nothing to do), 1 a step failed and was rolled back, 2 refused"):
        assert text in result.output


def test_upgrade_unknown_env_is_bad_input_before_any_cluster() -> None:
    from typer.testing import CliRunner

    from deploytool.cli.main import app

    result = CliRunner().invoke(app, ["upgrade", "--env", "nope", "--to", "v2.6.23", "--provider", "local",
                                      "--context", "no-such-cluster"])
    assert result.exit_code == 2 and "unknown env 'nope'" in result.output
    assert "Traceback" not in result.output


# -- the rendered target (helm template, no cluster) ------------------------------------------------------

def test_render_target_reads_mq_type_and_active_standby() -> None:
    from deploytool.core.config import Target
    from deploytool.core.helm import Helm
    from deploytool.deploy.upgrade.facts import mq_type_of, render_target

    values = Layers("prod").overrides()
    values["image"] = {"tag": NEW}
    target = render_target(Helm(), Target("prod"), values)
    assert target.problems == [] and target.mq_type == "woodpecker" and target.mixcoord_active_standby is True
    assert {o["kind"] for o in target.objects} >= {"Deployment", "StatefulSet", "PodDisruptionBudget"}
    assert mq_type_of({"messageQueue": {"type": "kafka"}}) == "kafka" and mq_type_of({}) is None


def test_render_target_refuses_an_unsupported_tag_by_rule() -> None:
    from deploytool.core.config import Target
    from deploytool.core.helm import Helm
    from deploytool.deploy.upgrade.facts import render_target

    values = Layers("prod").overrides()
    values["image"] = {"tag": "v2.5.16"}
    target = render_target(Helm(), Target("prod"), values)
    assert "milvus-version-supported" in {p.rule for p in target.problems} and target.objects == []


# -- reading pod and workload state from client models --------------------------------------------------

def _pod_model(**status: Any) -> Any:
    from kubernetes import client as k

    return k.V1Pod(
        metadata=k.V1ObjectMeta(name="milvus-querynode-x", labels={"app.kubernetes.io/component": "querynode"}),
        spec=k.V1PodSpec(containers=[k.V1Container(
            name="querynode", image=f"milvusdb/milvus:{NEW}",
            readiness_probe=k.V1Probe(initial_delay_seconds=10, period_seconds=5, failure_threshold=4))]),
        status=k.V1PodStatus(**status))


def test_pod_state_reads_waiting_unschedulable_and_readiness() -> None:
    from datetime import UTC, datetime, timedelta

    from kubernetes import client as k

    from deploytool.deploy.upgrade.stall import pod_state

    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    pending = _pod_model(phase="Pending", conditions=[k.V1PodCondition(
        type="PodScheduled", status="False", reason="Unschedulable", message="0/3 nodes are available")])
    state = pod_state(pending, now)
    assert state.unschedulable == "0/3 nodes are available" and state.tag == NEW and state.component == "querynode"
    pulling = _pod_model(phase="Pending", container_statuses=[k.V1ContainerStatus(
        name="querynode", image="x", image_id="", ready=False, restart_count=0,
        state=k.V1ContainerState(waiting=k.V1ContainerStateWaiting(reason="ImagePullBackOff", message="nope")))])
    assert pod_state(pulling, now).waiting == (("ImagePullBackOff", "nope"),)
    unready = _pod_model(phase="Running", start_time=now - timedelta(seconds=90), conditions=[k.V1PodCondition(
        type="Ready", status="False", last_transition_time=now - timedelta(seconds=40))],
        container_statuses=[k.V1ContainerStatus(name="querynode", image="x", image_id="", ready=False,
                                                restart_count=0, state=k.V1ContainerState(
                                                    running=k.V1ContainerStateRunning(started_at=now)))])
    state = pod_state(unready, now)
    assert state.started and not state.ready and state.not_ready_s == 40 and state.readiness_window_s == 30
    (cause,) = diagnose([state], [], ["querynode"], NEW)
    assert cause.reason == "ReadinessFailing"


def test_a_real_kubelets_never_pull_status_is_a_stall() -> None:
    """What a real kubelet reports for a tag never built on a node with imagePullPolicy Never."""
    from datetime import UTC, datetime

    from kubernetes import client as k

    from deploytool.deploy.upgrade.stall import pod_state

    message = f'Container image "localhost/deploytool/milvus-standin:{NEW}" is not present with pull policy of Never'
    never = _pod_model(phase="Pending", container_statuses=[k.V1ContainerStatus(
        name="querynode", image="x", image_id="", ready=False, restart_count=0,
        state=k.V1ContainerState(waiting=k.V1ContainerStateWaiting(reason="ErrImageNeverPull", message=message)))])
    (cause,) = diagnose([pod_state(never, datetime(2026, 11, 25, 9, 0, tzinfo=UTC))], [], ["querynode"], NEW)
    assert cause.reason == "ErrImageNeverPull" and "not present with pull policy of Never" in cause.message


def test_workload_fact_counts_a_surplus_pod_as_not_rolled() -> None:
    from kubernetes import client as k

    from deploytool.deploy.upgrade.facts import workload_fact

    def deployment(replicas: int, **status: int) -> Any:
        return k.V1Deployment(
            metadata=k.V1ObjectMeta(name="milvus-proxy", generation=3, labels={"app.kubernetes.io/component": "proxy"}),
            spec=k.V1DeploymentSpec(replicas=3, selector=k.V1LabelSelector(), template=k.V1PodTemplateSpec(
                spec=k.V1PodSpec(containers=[k.V1Container(name="proxy", image=f"milvusdb/milvus:{NEW}")]))),
            status=k.V1DeploymentStatus(observed_generation=3, replicas=replicas, **status))

    rolled = workload_fact(deployment(3, updated_replicas=3, ready_replicas=3, available_replicas=3))
    assert rolled.settled and rolled.tag == NEW and rolled.component == "proxy"
    surplus = workload_fact(deployment(4, updated_replicas=3, ready_replicas=3, available_replicas=3))
    assert not surplus.settled, "an old pod still running beside three new ones"


@pytest.mark.parametrize("to", ["v2.6.24", "v3.0.2"])
def test_each_step_restarts_only_its_components(to: str) -> None:
    """A step changes no other pod template (a 3.0 target's settings follow each component's own tag)."""
    start = Layers("prod", sets=["image.tag=v2.6.20"]).overrides()

    def templates(values: dict[str, Any]) -> dict[str, Any]:
        return {o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]["template"]
                for o in manifests.render(Layers("prod", overlay=values)).objects
                if o["kind"] in ("Deployment", "StatefulSet")}

    before = templates(start)
    for i in range(len(ORDER)):
        after = templates(step_values(start, to, list(ORDER), set(ORDER[: i + 1])))
        assert {c for c in before if before[c] != after[c]} == set(ORDER[: i + 1]), f"step {i + 1}"
