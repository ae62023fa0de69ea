"""`up`'s plan and decisions, without a cluster: plan_up, pre-flight over a state, the release's
pending state, node rooms from node and pod objects."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deploytool.core.config import Target
from deploytool.core.errors import BadInput, ClusterUnreachable, PreflightFailed
from deploytool.deploy.cluster_select import ClusterChoice
from deploytool.deploy.cluster_state import ClusterState, node_rooms
from deploytool.deploy.credentials import Credentials
from deploytool.deploy.release import ReleaseState, settle
from deploytool.deploy.sizing import identical_nodes
from deploytool.deploy.up import UpContext, UpOutcome, check_preflight
from deploytool.deploy.up_plan import HPA_METRICS, SMOKE, VERIFY, UpRequest, plan_up
from deploytool.render.values import Layers

GIVEN = Credentials("AK", "SK", "environment")


def request(env: str, nodes: int | None = None, provider: str = "local", smoke: bool = True,
            verify: bool = True) -> UpRequest:
    return UpRequest(Target(env), Layers(env), ClusterChoice(provider, "demo"), nodes=nodes, smoke=smoke,
                     verify=verify)


PLANS = [
    # (case, env, given, exists, manages lifecycle, --nodes, nodes created or None, error)
    ("existing cluster: nothing to create", "prod", None, True, True, None, None, None),
    ("new cluster for prod is sized to roll", "prod", GIVEN, False, True, None, 4, None),
    ("new cluster for dev: the minimum", "dev", None, False, True, None, 3, None),
    ("--nodes is taken as given", "prod", GIVEN, False, True, 6, 6, None),
    ("prod on a new cluster needs credentials", "prod", None, False, True, None, None, BadInput),
    ("staging on a new cluster needs credentials", "staging", None, False, True, None, None, BadInput),
    ("a provider that creates nothing needs the cluster", "dev", None, False, False, None, None,
     ClusterUnreachable),
]


@pytest.mark.parametrize(("case", "env", "given", "exists", "manages", "nodes", "created", "error"), PLANS,
                         ids=[p[0] for p in PLANS])
def test_plan_up(render_env, case: str, env: str, given: Credentials | None, exists: bool, manages: bool,
                 nodes: int | None, created: int | None, error: type[Exception] | None) -> None:
    req = request(env, nodes)
    if error:
        with pytest.raises(error):
            plan_up(req, render_env(env), given, exists, manages)
        return
    plan = plan_up(req, render_env(env), given, exists, manages)
    assert (plan.create.nodes if plan.create else None) == created
    assert plan.describe().startswith(f"{len(render_env(env).objects)} objects; ")
    if created:
        assert f"will create local/demo with {created} nodes" in plan.describe()


def state(rooms: list[Any], classes: tuple[dict[str, Any], ...] = ({"name": "standard", "default": True},)) \
        -> ClusterState:
    return ClusterState(len(rooms), tuple(rooms), classes, namespace_exists=False)


def test_preflight_passes_and_warns_on_three_nodes_for_prod(render_env) -> None:
    plan = plan_up(request("prod"), render_env("prod"), GIVEN, True, True)
    before = state(identical_nodes(3, "16", "64Gi"))
    result = check_preflight(plan, before)
    assert "3 nodes have 48 CPU" in result.summary
    assert {w.split(":")[0] for w in result.warnings} == {"milvus-proxy", "milvus-querynode"}
    assert check_preflight(plan, before).summary == result.summary, "the state is not consumed"
    assert check_preflight(plan, state(identical_nodes(4, "16", "64Gi"))).warnings == []


def test_preflight_refuses_two_nodes_and_a_missing_storage_class(render_env) -> None:
    plan = plan_up(request("prod"), render_env("prod"), GIVEN, True, True)
    with pytest.raises(PreflightFailed) as info:
        check_preflight(plan, state(identical_nodes(2, "16", "64Gi"), classes=()))
    assert "nothing applied" in str(info.value)
    assert any("querynode replica 3/3" in d for d in info.value.details)
    assert any("no default StorageClass" in d for d in info.value.details)


def revision(n: int, status: str) -> dict[str, Any]:
    return {"revision": n, "status": status}


@pytest.mark.parametrize(("history", "pending", "last_deployed", "call"), [
    ([], False, 0, None),
    ([revision(1, "deployed")], False, 1, None),
    ([revision(1, "pending-install")], True, 0, ("uninstall",)),
    ([revision(1, "superseded"), revision(2, "deployed"), revision(3, "pending-upgrade")], True, 2, ("rollback", 2)),
    ([revision(1, "deployed"), revision(2, "failed"), revision(3, "pending-rollback")], True, 1, ("rollback", 1)),
    ([revision(1, "failed")], False, 0, None),
])
def test_release_state_and_settle(history: list[dict[str, Any]], pending: bool, last_deployed: int,
                                  call: tuple[Any, ...] | None) -> None:
    calls: list[tuple[Any, ...]] = []
    helm = SimpleNamespace(rollback=lambda release, ns, rev, wait: calls.append(("rollback", rev)),
                           uninstall=lambda release, ns, wait: calls.append(("uninstall",)))
    release = ReleaseState(tuple(history))
    assert (release.pending, release.last_deployed) == (pending, last_deployed)
    detail = settle(helm, "milvus", "milvus-prod", release, wait=False)  # type: ignore[arg-type]
    assert calls == ([call] if call else [])
    assert bool(detail) == bool(call)


def k8s(**fields: Any) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def node(name: str, cpu: str = "4", memory: str = "8Gi", ready: bool = True, taints: list[Any] | None = None) \
        -> SimpleNamespace:
    return k8s(metadata=k8s(name=name, labels={"kubernetes.io/hostname": name}),
               status=k8s(allocatable={"cpu": cpu, "memory": memory},
                          conditions=[k8s(type="Ready", status="True" if ready else "False")]),
               spec=k8s(taints=taints, unschedulable=False))


def pod(name: str, node_name: str, cpu: str, memory: str, namespace: str = "other",
        labels: dict[str, str] | None = None, phase: str = "Running") -> SimpleNamespace:
    container = k8s(resources=k8s(requests={"cpu": cpu, "memory": memory}))
    return k8s(metadata=k8s(name=name, namespace=namespace, labels=labels or {}),
               spec=k8s(node_name=node_name, containers=[container]), status=k8s(phase=phase))


def test_node_rooms_subtract_other_pods_but_not_the_release_own() -> None:
    nodes = [node("a"), node("b", ready=False), node("c", taints=[k8s(key="k", value=None, effect="NoSchedule")])]
    pods = [pod("x", "a", "1", "1Gi"),
            pod("own", "a", "2", "2Gi", "milvus-prod", {"app.kubernetes.io/instance": "milvus"}),
            pod("done", "a", "3", "3Gi", phase="Succeeded"), pod("nowhere", "", "1", "1Gi")]
    rooms = {r.name: r for r in node_rooms(nodes, pods, "milvus-prod", "milvus")}
    assert (str(rooms["a"].cpu_free), rooms["a"].mem_free / 2**30) == ("3", 7)
    assert not rooms["b"].schedulable and rooms["c"].taints == [{"key": "k", "value": "", "effect": "NoSchedule"}]


def test_explicit_credentials_file_is_the_source(tmp_path: Path, render_env) -> None:
    path = tmp_path / "creds"
    path.write_text("access-key: A\nsecret-key: S\n")
    from deploytool.deploy.credentials import explicit

    plan = plan_up(request("prod"), render_env("prod"), explicit("prod", path), False, True)
    assert f"credentials from file {path}" in plan.describe()


@pytest.mark.parametrize(("env", "smoke", "verify", "checks"), [
    ("prod", True, True, (SMOKE, HPA_METRICS, VERIFY)),
    ("dev", True, True, (SMOKE, VERIFY)),  # no HPA in dev: nothing to wait for
    ("prod", False, True, (HPA_METRICS, VERIFY)),
    ("prod", True, False, (SMOKE,)),
    ("prod", False, False, ()),
])
def test_the_plan_says_which_checks_run(render_env, env: str, smoke: bool, verify: bool,
                                        checks: tuple[str, ...]) -> None:
    plan = plan_up(request(env, smoke=smoke, verify=verify), render_env(env), GIVEN, True, True)
    assert plan.checks == checks
    assert plan.describe().endswith(f"then {', '.join(checks) or 'no checks'}")


@pytest.mark.parametrize(("secret", "given", "rotates"), [
    ({}, GIVEN, False),  # a new Secret: nothing runs with an old pair
    ({"access-key": "AK", "secret-key": "SK"}, GIVEN, False),  # the same pair
    ({"access-key": "AK", "secret-key": "old"}, GIVEN, True),
    ({"access-key": "AK", "secret-key": "old"}, None, False),  # nothing given: the Secret is kept
])
def test_a_restart_is_decided_before_anything_changes(render_env, secret: dict[str, str],
                                                      given: Credentials | None, rotates: bool) -> None:
    from deploytool.deploy.credentials import choose

    plan = plan_up(request("prod"), render_env("prod"), given, True, True)
    cluster_state = ClusterState(3, (), (), namespace_exists=True, secret=secret)
    creds = choose("prod", given, secret)
    ctx = UpContext(plan, None, cluster_state, creds, UpOutcome())  # type: ignore[arg-type]
    assert ctx.rotates_credentials is rotates


def test_real_nodes_are_not_sized(render_env) -> None:
    req = UpRequest(Target("dev"), Layers("dev"), ClusterChoice("local", "demo"), real_nodes=1)
    plan = plan_up(req, render_env("dev"), None, False, True)
    assert plan.create and (plan.create.nodes, plan.create.real_nodes) == (0, 1)
    assert "will create local/demo with 1 real + 0 simulated nodes" in plan.describe()
