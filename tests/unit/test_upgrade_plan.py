"""The upgrade planner as a table: (source tag, target tag, flags, live facts) -> allowed, problems, steps.

The target objects are prod rendered by the real chart; the live facts are plain data built here
(nodes, the release's pods placed on them, workloads, PDBs), so every rule runs without a cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from deploytool.core import quantity
from deploytool.deploy import preflight
from deploytool.deploy.upgrade.facts import LiveFacts, NodeFact, PdbFact, PodFact, TargetFacts, WorkloadFact
from deploytool.deploy.upgrade.plan import ORDER, Plan, Request, make_plan
from deploytool.render import manifests
from deploytool.render.values import Layers
from deploytool.render.versions import DEFAULT_TAG

HOST = "kubernetes.io/hostname"


@pytest.fixture(scope="module")
def prod_objects() -> list[dict[str, Any]]:
    return manifests.render(Layers("prod")).objects


@dataclass
class Live:
    """Knobs for the synthetic cluster."""

    tag: str = "v2.6.22"
    nodes: int = 4
    node_cpu: str = "16"
    small_last_node: bool = False  # the last node has 2 CPU only
    taint_last_node: bool = False
    mq_type: str | None = "woodpecker"
    tags: dict[str, str] = field(default_factory=dict)  # per-component override of the running tag
    unsettled: str = ""  # a component with one pod not ready
    pdb_allowed: dict[str, int] = field(default_factory=dict)


def build_facts(objects: list[dict[str, Any]], live: Live) -> LiveFacts:
    nodes = []
    for i in range(live.nodes):
        small = live.small_last_node and i == live.nodes - 1
        taints = (("dedicated", "gpu", "NoSchedule"),) if live.taint_last_node and i == live.nodes - 1 else ()
        nodes.append(NodeFact(f"node-{i + 1}", {HOST: f"node-{i + 1}", "topology.kubernetes.io/zone": f"z{i % 3}"},
                              Decimal(2 if small else live.node_cpu), quantity.parse("64Gi"), True, taints))
    facts = LiveFacts("prod", "milvus", "milvus-prod", 3, {"image": {"tag": live.tag}}, live.mq_type, nodes=nodes)
    for demand in preflight.demands_from_objects(objects):
        kind = next(o["kind"] for o in objects if o["kind"] in ("Deployment", "StatefulSet")
                    and o["metadata"]["labels"]["app.kubernetes.io/component"] == demand.component)
        milvus = demand.component in (*ORDER, "standalone")
        tag = live.tags.get(demand.component, live.tag) if milvus else "3.5"
        ready = demand.replicas - (1 if live.unsettled == demand.component else 0)
        facts.workloads.append(WorkloadFact(kind, f"milvus-{demand.component}", demand.component, demand.replicas,
                                            ready, ready == demand.replicas, tag))
        for j in range(demand.replicas):  # distinct nodes for each component's replicas (anti-affinity held)
            node = nodes[j % min(3, len(nodes))]
            facts.pods.append(PodFact("milvus-prod", f"milvus-{demand.component}-{j}", node.name, demand.cpu,
                                      demand.memory, demand.component))
        allowed = live.pdb_allowed.get(demand.component, 1)
        facts.pdbs.append(PdbFact(f"milvus-{demand.component}", demand.component, allowed, demand.replicas,
                                  demand.replicas - allowed))
    return facts


def plan_for(objects: list[dict[str, Any]], frm: str, to: str, live: Live | None = None, **flags: Any) -> Plan:
    live = replace(live or Live(), tag=frm)
    return make_plan(Request("prod", to, **flags), build_facts(objects, live), TargetFacts(objects, [], "woodpecker"))


def rules(plan: Plan) -> set[str]:
    return {p.rule for p in plan.problems}


def messages(plan: Plan) -> str:
    return " | ".join(p.message for p in plan.problems)


def with_strategy(objects: list[dict[str, Any]], component: str, strategy: dict[str, Any]) -> list[dict[str, Any]]:
    out = copy.deepcopy(objects)
    for obj in out:
        if obj["kind"] == "Deployment" and obj["metadata"]["labels"]["app.kubernetes.io/component"] == component:
            obj["spec"]["strategy"] = strategy
    return out


# -- version paths ----------------------------------------------------------------------------------

CASES = [
    # (from, to, flags, allowed, rules refused, direction)
    ("v2.6.22", "v2.6.23", {}, True, set(), "upgrade"),
    ("v2.6.20", "v2.6.24", {}, True, set(), "upgrade"),
    ("v2.6.23", "v2.6.22", {}, True, set(), "downgrade"),
    ("v2.6.20", "v3.0.2", {"backup_done": True}, True, set(), "upgrade"),
    ("v2.6.20", "v3.0.2", {}, False, {"backup-before-minor-change"}, "upgrade"),
    ("v2.6.4", "v3.0.2", {"backup_done": True}, False, {"minor-upgrade-path"}, "upgrade"),
    ("v2.6.19", "v3.0.2", {"backup_done": True}, False, {"minor-upgrade-path"}, "upgrade"),
    ("v3.0.2", "v2.6.24", {"backup_done": True}, False, {"minor-downgrade"}, "downgrade"),
    ("v3.0.2", "v2.6.24", {"allow_downgrade": True, "backup_done": True}, True, set(), "downgrade"),
    ("v3.0.2", "v2.6.24", {"allow_downgrade": True}, False, {"backup-before-minor-change"}, "downgrade"),
    ("v3.0.2", "v2.6.12", {"allow_downgrade": True, "backup_done": True}, False, {"minor-downgrade"}, "downgrade"),
    ("v3.0.1", "v3.0.2", {}, True, set(), "upgrade"),
    ("v2.6.22", "v2.5.16", {}, False, {"target-supported", "minor-downgrade", "backup-before-minor-change"},
     "downgrade"),
    ("v2.6.22", "latest", {}, False, {"target-supported"}, "unknown"),
    ("v2.6.22", "v2.6.2", {}, False, {"target-supported"}, "downgrade"),
]


@pytest.mark.parametrize(("frm", "to", "flags", "allowed", "refused", "direction"), CASES,
                         ids=[f"{c[0]}->{c[1]}{'+' + '+'.join(c[2]) if c[2] else ''}" for c in CASES])
def test_version_paths(prod_objects: list[dict[str, Any]], frm: str, to: str, flags: dict[str, bool],
                       allowed: bool, refused: set[str], direction: str) -> None:
    plan = plan_for(prod_objects, frm, to, **flags)
    assert plan.allowed is allowed, messages(plan)
    assert rules(plan) == refused, messages(plan)
    assert plan.direction == direction
    if direction == "upgrade" and allowed:
        assert [s.components for s in plan.steps] == [[c] for c in ORDER]
    if direction == "downgrade":
        assert [s.components for s in plan.steps] == [[c] for c in reversed(ORDER)]
    assert all(s.to == to and set(s.from_tags.values()) == {frm} for s in plan.steps)


def test_hop_is_named_for_an_early_source(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.4", "v3.0.2", backup_done=True)
    (problem,) = plan.problems
    assert "validated only from v2.6.20" in problem.message
    assert f"upgrade to {DEFAULT_TAG} first (deploytool upgrade --env prod --to {DEFAULT_TAG}), then to v3.0.2" \
        in problem.message


def test_backup_gate_says_what_to_back_up(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.20", "v3.0.2")
    assert "etcd metadata" in messages(plan) and "object-storage bucket" in messages(plan)
    assert "--backup-done" in messages(plan)
    assert plan.backup and plan.as_dict()["backup"] == plan.backup
    assert plan_for(prod_objects, "v2.6.22", "v2.6.23").backup == [], "no backup gate for a patch upgrade"


def test_same_tag_is_nothing_to_do(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.23", "v2.6.23")
    assert plan.allowed and plan.steps == [] and plan.direction == "none"


def test_half_done_upgrade_resumes_with_the_rest(prod_objects: list[dict[str, Any]]) -> None:
    live = Live(tags={"mixcoord": "v2.6.23", "streamingnode": "v2.6.23"})
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", live)
    assert plan.allowed, messages(plan)
    assert [s.label for s in plan.steps] == ["querynode", "datanode", "proxy"]


def test_mixed_sources_are_refused(prod_objects: list[dict[str, Any]]) -> None:
    live = Live(tags={"mixcoord": "v2.6.21"})
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", live)
    assert rules(plan) == {"one-source-version"}
    assert "mixcoord v2.6.21" in messages(plan)


def test_mq_type_change_is_refused(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(mq_type="pulsar"))
    assert rules(plan) == {"mq-type-unchanged"}
    assert "would change from pulsar to woodpecker" in messages(plan)


def test_unsettled_release_is_refused(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(unsettled="datanode"))
    assert rules(plan) == {"release-settled"} and "datanode: 1/2 ready" in messages(plan)


def test_target_validation_problems_refuse(prod_objects: list[dict[str, Any]]) -> None:
    from deploytool.core.errors import Problem

    facts = build_facts(prod_objects, Live())
    target = TargetFacts([], [Problem("image.tag", "not supported", "milvus-version-supported")], "woodpecker")
    plan = make_plan(Request("prod", "v2.6.23"), facts, target)
    assert rules(plan) == {"milvus-version-supported"}


def test_unknown_order_is_refused(prod_objects: list[dict[str, Any]]) -> None:
    assert "order" in rules(plan_for(prod_objects, "v2.6.22", "v2.6.23", order="random"))


def test_helm_order_is_one_step(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", order="helm")
    assert plan.allowed and [s.components for s in plan.steps] == [list(ORDER)]


# -- feasibility against the live cluster -----------------------------------------------------------

def test_three_nodes_cannot_surge_required_anti_affinity(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(nodes=3))
    assert not plan.allowed and rules(plan) == {"rollout-feasible"}
    assert [p.message for p in plan.problems] == [
        f"{c}: 3 replicas with required anti-affinity on kubernetes.io/hostname and maxSurge 1 need 4 schedulable "
        "nodes; the cluster has 3 — add a node or set maxUnavailable 1 for this component"
        for c in ("querynode", "proxy")]


def test_four_nodes_are_enough(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(nodes=4))
    assert plan.allowed, messages(plan)


def test_surge_pod_short_of_requests(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(nodes=4, small_last_node=True))
    found = [p.message for p in plan.problems]
    assert len(found) == 1, found
    assert found[0].startswith("querynode: the surge pod (requests 4 CPU, 16Gi) fits no node"), found
    assert "node-4: free 2 CPU" in found[0] and "short 2 CPU" in found[0]


def test_tainted_node_does_not_count(prod_objects: list[dict[str, Any]]) -> None:
    plan = plan_for(prod_objects, "v2.6.22", "v2.6.23", Live(nodes=4, taint_last_node=True))
    assert any("need 4 schedulable nodes; the cluster has 3" in p.message for p in plan.problems), messages(plan)


def test_max_unavailable_one_needs_no_surge_room(prod_objects: list[dict[str, Any]]) -> None:
    objects = with_strategy(prod_objects, "querynode", {"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    objects = with_strategy(objects, "proxy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    plan = plan_for(objects, "v2.6.22", "v2.6.23", Live(nodes=3))
    assert plan.allowed, messages(plan)
    querynode = next(s for s in plan.steps if s.label == "querynode")
    assert querynode.downtime == "capacity reduced: up to 1 of 3 querynode pods down at a time"


def test_pdb_without_budget_refuses_a_recreate(prod_objects: list[dict[str, Any]]) -> None:
    objects = with_strategy(prod_objects, "mixcoord", {"type": "Recreate"})
    plan = plan_for(objects, "v2.6.22", "v2.6.23", Live(pdb_allowed={"mixcoord": 0}))
    assert rules(plan) == {"rollout-feasible"}
    assert messages(plan).startswith("mixcoord: the rollout takes up to 1 pod(s) down at once; "
                                     "PodDisruptionBudget milvus-mixcoord allows 0 now")


def test_strategy_and_downtime_per_step(prod_objects: list[dict[str, Any]]) -> None:
    objects = with_strategy(prod_objects, "mixcoord", {"type": "Recreate"})
    plan = plan_for(objects, "v2.6.22", "v2.6.23")
    steps = {s.label: s for s in plan.steps}
    assert steps["mixcoord"].strategy.startswith("Recreate")
    assert steps["mixcoord"].downtime == ("mixcoord unavailable from the stop of its 1 old pod(s) until a new one "
                                          "is Ready")
    assert steps["querynode"].strategy == "RollingUpdate maxSurge 1, maxUnavailable 0"
    assert steps["querynode"].downtime == "none expected: every new pod is Ready before an old one stops"
    data = plan.as_dict()
    assert set(data) >= {"allowed", "problems", "steps"}
    assert data["steps"][0] == {"label": "mixcoord", "components": ["mixcoord"], "from": {"mixcoord": "v2.6.22"},
                                "to": "v2.6.23", "strategy": steps["mixcoord"].strategy,
                                "downtime": steps["mixcoord"].downtime}


def test_mixcoord_strategy_follows_active_standby(prod_objects: list[dict[str, Any]]) -> None:
    facts = build_facts(prod_objects, Live())
    rolling = with_strategy(prod_objects, "mixcoord", {"type": "RollingUpdate",
                                                       "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    plan = make_plan(Request("prod", "v2.6.23"), facts, TargetFacts(rolling, [], "woodpecker", True))
    assert plan.steps[0].strategy == "RollingUpdate maxSurge 1, maxUnavailable 0 (active-standby on)"
    assert plan.steps[0].downtime == "none expected: every new pod is Ready before an old one stops"
    recreate = with_strategy(prod_objects, "mixcoord", {"type": "Recreate"})
    plan = make_plan(Request("prod", "v2.6.23"), facts, TargetFacts(recreate, [], "woodpecker", False))
    assert plan.steps[0].strategy == "Recreate (active-standby off: one active coordinator)"


def test_standalone_is_one_step() -> None:
    objects = manifests.render(Layers("dev")).objects
    plan = make_plan(Request("dev", "v2.6.24"), build_facts(objects, Live(tag="v2.6.22", nodes=1)),
                     TargetFacts(objects, [], "woodpecker"))
    assert plan.allowed, messages(plan)
    (step,) = plan.steps
    assert step.components == ["standalone"] and step.from_tags == {"standalone": "v2.6.22"}
    assert step.strategy == "RollingUpdate (StatefulSet, one pod at a time)"
    assert step.downtime == "standalone unavailable while each pod is replaced"


def test_an_unsupported_tag_is_said_once(prod_objects: list[dict[str, Any]]) -> None:
    from deploytool.core.errors import Problem

    facts = build_facts(prod_objects, Live())
    target = TargetFacts([], [Problem("image.tag", "Milvus 2.5 is not supported", "milvus-version-supported")],
                         "woodpecker")
    plan = make_plan(Request("prod", "v2.5.16", backup_done=True, allow_downgrade=True), facts, target)
    assert rules(plan) == {"target-supported", "minor-downgrade"}, messages(plan)
