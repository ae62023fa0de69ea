"""The drills' assertion logic on synthetic recordings: what must pass passes, what must fail fails."""

from __future__ import annotations

import pytest

from deploytool.drills import checks
from deploytool.drills.model import (
    EndpointSample,
    HpaSample,
    NodeSample,
    PodSample,
    ProbeSample,
    Recording,
    WorkloadInfo,
    WorkloadSample,
)

HOST = "kubernetes.io/hostname"


def rec_with(*infos: WorkloadInfo) -> Recording:
    rec = Recording()
    for info in infos:
        rec.workloads[info.component] = info
    return rec


def dep(component: str, max_unavailable: int = 0, anti: str | None = None) -> WorkloadInfo:
    return WorkloadInfo(component, "Deployment", f"milvus-{component}", max_unavailable, 1, anti)


def pod(t: float, name: str, component: str, node: str, deleted: bool = False, terminating: bool = False,
        tag: str = "v1") -> PodSample:
    return PodSample(t, name, component, node, "Running", not terminating, terminating, deleted, tag)


# -- the rolling-update floor ------------------------------------------------------------------


def rolling_update(available_during: list[int]) -> Recording:
    rec = rec_with(dep("proxy"))
    for i, available in enumerate([3, *available_during, 3]):
        rec.workload_samples.append(WorkloadSample(float(i), "proxy", 3, available, available, min(i, 3)))
    return rec


def test_floor_holds_when_available_never_drops_below_desired_minus_max_unavailable() -> None:
    rec = rolling_update([4, 3, 4, 3])
    assert checks.floor_violations(rec) == []
    assertion = checks.floor_assertion(rec)
    assert assertion.ok and "available min 3, floor 3" in assertion.evidence[0]


def test_floor_fails_on_a_single_sample_below_it() -> None:
    rec = rolling_update([4, 2, 3])
    violations = checks.floor_violations(rec)
    assert [(v.t, v.available, v.floor) for v in violations] == [(2.0, 2, 3)]
    assertion = checks.floor_assertion(rec)
    assert not assertion.ok
    assert "below floor at t=2.0s: proxy available 2 < 3" in assertion.evidence


def test_floor_uses_each_components_budget() -> None:
    rec = rec_with(dep("datanode", max_unavailable=1))
    rec.workload_samples += [WorkloadSample(0, "datanode", 2, 2, 2, 2), WorkloadSample(1, "datanode", 2, 1, 1, 1)]
    assert checks.floor_violations(rec) == []
    rec.workload_samples.append(WorkloadSample(2, "datanode", 2, 0, 0, 0))
    assert len(checks.floor_violations(rec)) == 1


def test_floor_window_counts_the_state_in_force_at_its_start() -> None:
    rec = rolling_update([])
    rec.workload_samples.insert(1, WorkloadSample(0.5, "proxy", 3, 1, 1, 0))  # below floor, before the window
    assert checks.floor_violations(rec, start=0.7) != []  # still in force at 0.7
    assert checks.floor_violations(rec, start=1.0) == []


def test_floor_reports_time_without_any_replica() -> None:
    rec = rec_with(WorkloadInfo("minio", "StatefulSet", "milvus-minio", 1, 0, None))
    rec.workload_samples += [WorkloadSample(0, "minio", 1, 1, 1, 1), WorkloadSample(10, "minio", 1, 0, 0, 0),
                             WorkloadSample(14, "minio", 1, 1, 1, 1)]
    assertion = checks.floor_assertion(rec, end=20)
    assert assertion.ok  # within its budget of 1...
    assert "NO replica available for 4.0s" in assertion.evidence[0]  # ...but an outage, and said so


def recreate_step(strategy: str) -> Recording:
    """One mixcoord replica replaced during its step: Recreate stops the old pod before the new one starts."""
    rec = rec_with(WorkloadInfo("mixcoord", "Deployment", "milvus-mixcoord", 1 if strategy == "Recreate" else 0, 0,
                                None, strategy=strategy))
    rec.workload_samples += [WorkloadSample(0, "mixcoord", 1, 1, 1, 1), WorkloadSample(10, "mixcoord", 1, 0, 0, 0),
                             WorkloadSample(13, "mixcoord", 1, 1, 1, 1)]
    return rec


def test_recreate_is_expected_to_go_to_zero_and_the_assertion_says_so() -> None:
    assertion = checks.floor_assertion(recreate_step("Recreate"), end=20)
    assert assertion.ok and checks.floor_violations(recreate_step("Recreate")) == []
    assert "mixcoord uses Recreate: expected to go to 0" in assertion.expected
    assert assertion.evidence[0].startswith("mixcoord: strategy Recreate, floor 0")
    assert "no replica available for 3.0s (Recreate)" in assertion.evidence[0]


def test_the_same_drop_under_rolling_update_breaks_the_floor() -> None:
    assertion = checks.floor_assertion(recreate_step("RollingUpdate"), end=20)
    assert not assertion.ok and "Recreate" not in assertion.expected
    assert "below floor at t=10.0s: mixcoord available 0 < 1" in assertion.evidence


def _deployment(replicas: int, strategy: object) -> object:
    from kubernetes import client as k

    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name="milvus-mixcoord", labels={"app.kubernetes.io/component": "mixcoord"}),
        spec=k.V1DeploymentSpec(replicas=replicas, strategy=strategy, selector=k.V1LabelSelector(),
                                template=k.V1PodTemplateSpec(spec=k.V1PodSpec(containers=[]))))


@pytest.mark.parametrize(("strategy", "expected"), [
    ("Recreate", ("Recreate", 4, 0)),  # every pod may be gone, none added
    ("default", ("RollingUpdate", 1, 1)),  # no strategy in the spec: 25% each (unavailable rounded down, surge up)
    ("2/0", ("RollingUpdate", 0, 2)),
    ("50%/50%", ("RollingUpdate", 2, 2)),
])
def test_recorder_reads_the_deployment_strategy(strategy: str, expected: tuple[str, int, int]) -> None:
    from kubernetes import client as k

    from deploytool.drills.recorder import workload_info

    if strategy == "Recreate":
        spec = k.V1DeploymentStrategy(type="Recreate")
    elif strategy == "default":
        spec = None
    else:
        surge, unavailable = strategy.split("/")
        spec = k.V1DeploymentStrategy(type="RollingUpdate", rolling_update=k.V1RollingUpdateDeployment(
            max_surge=int(surge) if surge.isdigit() else surge,
            max_unavailable=int(unavailable) if unavailable.isdigit() else unavailable))
    info = workload_info(_deployment(4, spec), "Deployment")
    assert (info.strategy, info.max_unavailable, info.max_surge) == expected
    assert info.floor(4) == (0 if strategy == "Recreate" else 4 - expected[1])


# -- anti-affinity: replicas lost and nodes shared -----------------------------------------------


def test_no_sharing_when_a_replica_moves_to_a_free_node() -> None:
    rec = rec_with(dep("proxy", anti=HOST))
    rec.pod_samples += [pod(0, "p1", "proxy", "n1"), pod(0, "p2", "proxy", "n2"), pod(0, "p3", "proxy", "n3"),
                        pod(5, "p1", "proxy", "n1", terminating=True), pod(6, "p4", "proxy", ""),
                        pod(7, "p4", "proxy", "n4"), pod(8, "p1", "proxy", "n1", deleted=True)]
    assert checks.shared_domains(rec) == []


def test_sharing_is_detected_including_terminating_pods() -> None:
    rec = rec_with(dep("proxy", anti=HOST))
    rec.pod_samples += [pod(0, "p1", "proxy", "n1"), pod(0, "p2", "proxy", "n2"),
                        pod(3, "p2", "proxy", "n2", terminating=True), pod(4, "p3", "proxy", "n2")]
    found = checks.shared_domains(rec)
    assert len(found) == 1
    assert (found[0].t, found[0].domain, found[0].pods) == (4, "n2", ("p2", "p3"))
    assert not checks.anti_affinity_assertion(rec).ok


def test_sharing_uses_the_topology_key_through_node_labels() -> None:
    zone = "topology.kubernetes.io/zone"
    rec = rec_with(dep("querynode", anti=zone))
    rec.node_labels = {"n1": {zone: "a"}, "n2": {zone: "a"}, "n3": {zone: "b"}}
    rec.pod_samples += [pod(0, "q1", "querynode", "n1"), pod(0, "q2", "querynode", "n3")]
    assert checks.shared_domains(rec) == []
    rec.pod_samples.append(pod(1, "q3", "querynode", "n2"))
    assert [s.domain for s in checks.shared_domains(rec)] == ["a"]


def test_components_without_anti_affinity_may_share() -> None:
    rec = rec_with(dep("datanode"), dep("proxy", anti=HOST))
    rec.pod_samples += [pod(0, "d1", "datanode", "n1"), pod(0, "d2", "datanode", "n1")]
    assert checks.shared_domains(rec) == []


def test_losing_two_replicas_at_once_fails_the_anti_affinity_assertion() -> None:
    rec = rec_with(dep("proxy", anti=HOST))
    rec.workload_samples += [WorkloadSample(0, "proxy", 3, 3, 3, 3), WorkloadSample(1, "proxy", 3, 2, 2, 3)]
    assert checks.max_lost(rec, "proxy") == 1 and checks.anti_affinity_assertion(rec).ok
    rec.workload_samples.append(WorkloadSample(2, "proxy", 3, 1, 1, 3))
    assert checks.max_lost(rec, "proxy") == 2
    assertion = checks.anti_affinity_assertion(rec)
    assert not assertion.ok and "proxy: at most 2 replica(s) unavailable at once" in assertion.evidence


def test_anti_affinity_assertion_fails_when_nothing_has_it() -> None:
    assert not checks.anti_affinity_assertion(rec_with(dep("datanode"))).ok


# -- endpoints and recovery ------------------------------------------------------------------------


def test_endpoints_minimum_counts_the_value_at_window_start() -> None:
    rec = Recording(endpoint_samples=[EndpointSample(0, "milvus", 3), EndpointSample(5, "milvus", 2),
                                      EndpointSample(9, "milvus", 3)])
    assert checks.endpoints_min(rec, "milvus", 1, 20) == (2, 5)
    assert checks.endpoints_assertion(rec, "milvus", 1, 20).ok
    rec.endpoint_samples.append(EndpointSample(12, "milvus", 0))
    assert not checks.endpoints_assertion(rec, "milvus", 1, 20).ok
    assert checks.endpoints_min(rec, "milvus", 13, 20) == (0, 13)


def test_recovery_from_loss_to_all_back() -> None:
    rec = rec_with(dep("proxy"), dep("mixcoord"))
    rec.workload_samples += [WorkloadSample(0, "proxy", 3, 3, 3, 3), WorkloadSample(0, "mixcoord", 1, 1, 1, 1),
                             WorkloadSample(10, "proxy", 3, 2, 2, 3), WorkloadSample(11, "mixcoord", 1, 0, 0, 1),
                             WorkloadSample(20, "proxy", 3, 3, 3, 3), WorkloadSample(25, "mixcoord", 1, 1, 1, 1)]
    assert checks.recovery(rec, 5) == (10, 25)
    assert checks.recovery(rec, 5, t_end=22) == (10, None)  # not back yet at 22
    assert checks.recovery(rec, 26) == (None, None)  # nothing lost after 26


# -- the HPA formula -------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "usage", "target", "lo", "hi", "expected"), [
    (3, 140, 70, 3, 20, 6),     # ceil(3 * 2.0)
    (3, 100, 70, 3, 20, 5),     # ceil(4.29)
    (3, 75, 70, 3, 20, 3),      # ratio 1.07: inside the 10% tolerance, unchanged
    (3, 1000, 70, 3, 20, 20),   # capped at max
    (6, 10, 70, 3, 20, 3),      # ceil(0.86) = 1, raised to min
    (4, 50, 70, 1, 10, 3),      # ceil(2.86)
])
def test_expected_hpa_replicas(current: int, usage: float, target: float, lo: int, hi: int, expected: int) -> None:
    assert checks.expected_hpa_replicas(current, usage, target, lo, hi) == expected


def test_first_hpa_time_reaching_a_count() -> None:
    rec = Recording(hpa_samples=[HpaSample(1, "milvus-proxy", 3, 3, 0), HpaSample(9, "milvus-proxy", 3, 6, 140),
                                 HpaSample(9.5, "milvus-querynode", 3, 7, 200)])
    assert checks.first_time(rec, "milvus-proxy", lambda h: h.desired >= 6, 2) == 9
    assert checks.first_time(rec, "milvus-proxy", lambda h: h.desired >= 7, 2) is None


# -- the probe -------------------------------------------------------------------------------------


def test_probe_assertion_counts_only_search_errors() -> None:
    samples = [ProbeSample(i * 0.05, True, 5.0 + i % 3, "p1") for i in range(100)]
    samples += [ProbeSample(5.0, True, 120.0, "p2", "p1 -> p2: p1 terminating", "reconnect"),
                ProbeSample(5.1, True, None, "", "busy", "skipped")]
    stats = checks.probe_stats(samples)
    assert (stats.searches, stats.errors, stats.reconnects, stats.skipped) == (100, 0, 1, 1)
    assert stats.p50_ms == 6.0 and stats.max_ms == 7.0
    assert checks.probe_assertion(samples, max_errors=0).ok


def test_probe_assertion_fails_over_the_error_budget_or_without_searches() -> None:
    samples = [ProbeSample(0, True, 5.0, "p1"), ProbeSample(1, False, None, "p1", "UNAVAILABLE"),
               ProbeSample(2, False, None, "p1", "UNAVAILABLE")]
    assert not checks.probe_assertion(samples, max_errors=1).ok
    assert checks.probe_assertion(samples, max_errors=2).ok
    assertion = checks.probe_assertion(samples, max_errors=0)
    assert "t=1.0s via p1: UNAVAILABLE" in assertion.evidence
    assert not checks.probe_assertion([], max_errors=5).ok


def test_staging_mixcoord_is_recreate_so_its_drill_floor_is_zero() -> None:
    """The committed staging manifest (what `up --env staging` applies) read as the recorder reads it."""
    from pathlib import Path

    import yaml
    from kubernetes import client as k

    from deploytool.drills.recorder import workload_info

    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifests/staging/deployment-milvus-mixcoord.yaml")
                              .read_text())
    strategy = manifest["spec"]["strategy"]
    info = workload_info(_deployment(manifest["spec"].get("replicas", 1), k.V1DeploymentStrategy(
        type=strategy["type"])), "Deployment")
    assert strategy["type"] == "Recreate" and info.recreates and info.floor(1) == 0


# -- node failure: the node controller, rescheduling, anti-affinity that is not vacuous ------------


def test_preferred_anti_affinity_only_fails_and_says_so() -> None:
    soft = WorkloadInfo("proxy", "Deployment", "milvus-proxy", 1, 1, None, preferred_anti_affinity_key=HOST)
    assertion = checks.anti_affinity_assertion(rec_with(soft, dep("datanode")), start=0.0, failed_node="n1")
    assert not assertion.ok
    assert "only preferred: proxy" in assertion.observed and "cannot pass" in assertion.observed
    assert any("preferred (soft) anti-affinity only, not checked: proxy" in line for line in assertion.evidence)


def failed_node_recording() -> Recording:
    """proxy (required anti-affinity) p1 on n1, p2 on n2; etcd-1 (StatefulSet) on n1; datanode d1 on n2.
    n1 fails at t=10; p1 is replaced by p3 on n3 at t=40; etcd-1 comes back under its name on n2 at t=45."""
    rec = rec_with(dep("proxy", anti=HOST), WorkloadInfo("etcd", "StatefulSet", "milvus-etcd", 1, 0, None),
                   dep("datanode"))
    rec.pod_samples += [pod(0, "p1", "proxy", "n1"), pod(0, "p2", "proxy", "n2"), pod(0, "etcd-1", "etcd", "n1"),
                        pod(0, "d1", "datanode", "n2"),
                        pod(30, "p1", "proxy", "n1", terminating=True), pod(31, "p3", "proxy", ""),
                        pod(35, "p1", "proxy", "n1", deleted=True), pod(36, "etcd-1", "etcd", "n1", deleted=True),
                        PodSample(37, "p3", "proxy", "n3", "Pending", False, False, False, "v1"),
                        pod(40, "p3", "proxy", "n3"),
                        PodSample(41, "etcd-1", "etcd", "n2", "Pending", False, False, False, "v1"),
                        pod(45, "etcd-1", "etcd", "n2")]
    return rec


def test_replacements_pair_each_lost_pod_with_a_ready_pod_on_another_node() -> None:
    rec = failed_node_recording()
    assert [p.pod for p in checks.pods_on_node_at(rec, "n1", 10)] == ["etcd-1", "p1"]
    pairs = [(old.pod, new.pod if new else None, new.node if new else None)
             for old, new in checks.replacements(rec, "n1", 10, 100)]
    assert pairs == [("etcd-1", "etcd-1", "n2"), ("p1", "p3", "n3")]
    assertion = checks.rescheduled_assertion(rec, "n1", 10, 100)
    assert assertion.ok and assertion.observed == "2 of 2 pod(s) on n1 replaced on other nodes"
    assert "proxy: p1 (on n1) -> p3 Ready on n3 30.0s after the failure" in assertion.evidence


def test_a_pod_not_replaced_before_the_node_returned_fails_unless_it_had_nowhere_to_go() -> None:
    rec = failed_node_recording()
    assertion = checks.rescheduled_assertion(rec, "n1", 10, 42)  # the node came back at 42: etcd-1 not yet
    assert not assertion.ok and "etcd: etcd-1 NOT replaced on another node before the node returned" \
        in assertion.evidence
    assert checks.rescheduled_assertion(rec, "n1", 10, 42, may_stay_pending={"etcd"}).ok
    # the surviving replica p2 was Ready all along: it is not a replacement
    rec.pod_samples = [s for s in rec.pod_samples if s.pod != "p3"]
    assert not checks.rescheduled_assertion(rec, "n1", 10, 100).ok


def test_rescheduled_fails_when_nothing_was_on_the_node() -> None:
    assertion = checks.rescheduled_assertion(failed_node_recording(), "n9", 10, 100)
    assert not assertion.ok and assertion.observed == "no release pod was on n9 when it failed"


def test_anti_affinity_on_a_failed_node_needs_a_required_pod_there() -> None:
    rec = failed_node_recording()
    rec.workload_samples += [WorkloadSample(0, "proxy", 2, 2, 2, 2), WorkloadSample(30, "proxy", 2, 1, 1, 2),
                             WorkloadSample(40, "proxy", 2, 2, 2, 2)]
    held = checks.anti_affinity_assertion(rec, start=10, failed_node="n1")
    assert held.ok and held.evidence[0] == "on n1 when it failed: proxy (required anti-affinity)"
    vacuous = checks.anti_affinity_assertion(rec, start=10, failed_node="n2b")
    assert not vacuous.ok and "no pod with required anti-affinity was on n2b" in vacuous.observed


def test_node_not_ready_must_come_from_the_node_controller() -> None:
    rec = Recording(node_samples=[NodeSample(0, "n1", True, False), NodeSample(48, "n1", False, False, [],
                                                                               "NodeStatusUnknown"),
                                  NodeSample(49, "n1", False, False, ["node.kubernetes.io/unreachable:NoExecute"],
                                             "NodeStatusUnknown"),
                                  NodeSample(120, "n1", True, False, [], "KubeletReady")])
    assertion = checks.node_not_ready_assertion(rec, "n1", 10)
    assert assertion.ok
    assert assertion.observed == ("NotReady 38.0s after the failure; reason NodeStatusUnknown; "
                                  "taints node.kubernetes.io/unreachable:NoExecute")
    # NotReady reported by a kubelet itself (e.g. its runtime is down) is not the node controller's verdict
    own = Recording(node_samples=[NodeSample(20, "n1", False, False, [], "KubeletNotReady")])
    assert not checks.node_not_ready_assertion(own, "n1", 10).ok
    assert not checks.node_not_ready_assertion(Recording(), "n1", 10).ok
