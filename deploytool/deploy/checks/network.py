"""NetworkPolicies: the rendered ones exist live as rendered, and their selectors select pods.

The check reads objects; it sends no traffic. Whether traffic is blocked is the job of the
cluster's network plugin (CNI): a policy without an enforcing CNI is accepted and does nothing.
"""

from __future__ import annotations

import json
from typing import Any

from deploytool.clusters.base import SIMULATED
from deploytool.core.labels import COMPONENT, INSTANCE
from deploytool.deploy.checks.expected import component, workloads
from deploytool.deploy.snapshot import Pod, Snapshot, selects
from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN, Result
from deploytool.render.manifests import Rendered

FIX = "re-run `deploytool up`; compare the policy's podSelector with the pods' labels (kubectl get pods --show-labels)"


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as the API server stores it: port protocol defaults to TCP, empty lists dropped."""
    out = {k: v for k, v in rule.items() if v not in (None, [], {})}
    if "ports" in out:
        out["ports"] = [{"protocol": "TCP", **p} for p in out["ports"]]
    return out


def normalized(spec: dict[str, Any]) -> str:
    """A NetworkPolicy spec in a canonical form (API defaults applied) for comparison."""
    types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
    return json.dumps({"podSelector": spec.get("podSelector") or {}, "policyTypes": sorted(types),
                       "ingress": [_rule(r) for r in spec.get("ingress") or []],
                       "egress": [_rule(r) for r in spec.get("egress") or []]}, sort_keys=True)


def _names(pods: list[Pod]) -> str:
    by_component: dict[str, int] = {}
    for p in pods:
        key = p.labels.get(COMPONENT, p.name)
        by_component[key] = by_component.get(key, 0) + 1
    return ", ".join(f"{c} x{n}" for c, n in sorted(by_component.items())) or "no pod"


def _peers(rule: dict[str, Any], pods: list[Pod], name: str) -> tuple[list[str], list[str]]:
    """(description of who may connect, problems): a same-namespace podSelector peer must select a pod."""
    who, bad = [], []
    for peer in rule.get("from") or rule.get("to") or []:
        if "podSelector" in peer and "namespaceSelector" not in peer:
            chosen = [p for p in pods if selects(peer["podSelector"], p.labels)]
            who.append(f"pods {_names(chosen)}")
            if not chosen:
                bad.append(f"NetworkPolicy {name}: peer podSelector {json.dumps(peer['podSelector'], sort_keys=True)} "
                           "selects no pod, so the rule admits nobody")
        elif "namespaceSelector" in peer:
            who.append(f"namespaces {json.dumps(peer['namespaceSelector'], sort_keys=True)}"
                       + (f" pods {json.dumps(peer['podSelector'], sort_keys=True)}" if "podSelector" in peer else ""))
        else:
            who.append(f"ipBlock {peer.get('ipBlock', {}).get('cidr', '?')}")
    ports = ", ".join(f"{p.get('port', 'all')}/{p.get('protocol', 'TCP')}" for p in rule.get("ports") or [])
    ports = ports or "all ports"
    return [f"{' or '.join(who) or 'anyone'} on {ports}"], bad


def _intent(obj: dict[str, Any], selected: list[Pod], pods: list[Pod], components: set[str]) -> list[str]:
    """A policy labelled with a workload's component is meant for exactly that component's pods
    (a label naming no workload, such as the chart's `networkpolicy`, states no such intent)."""
    component = (obj["metadata"].get("labels") or {}).get(COMPONENT)
    if component not in components:
        return []
    meant = {p.name for p in pods if p.labels.get(COMPONENT) == component}
    got = {p.name for p in selected}
    if got == meant:
        return []
    return [f"NetworkPolicy {obj['metadata']['name']} is for {component} but selects {_names(selected)}"
            + (f", missing {sorted(meant - got)}" if meant - got else "")]


def _policy(obj: dict[str, Any], snap: Snapshot, pods: list[Pod],
            components: set[str]) -> tuple[list[str], list[str], set[str]]:
    """(problems, evidence, selected pod names) for one rendered policy."""
    name, spec = obj["metadata"]["name"], obj["spec"]
    live = snap.network_policies.get(name)
    if live is None:
        return [f"NetworkPolicy {name} missing"], [], set()
    bad = []
    if normalized(live.spec) != normalized(spec):
        bad.append(f"NetworkPolicy {name}: live spec differs from the render")
    selected = [p for p in pods if selects(live.spec.get("podSelector"), p.labels)]
    if not selected:
        bad.append(f"NetworkPolicy {name}: podSelector {json.dumps(live.spec.get('podSelector'), sort_keys=True)} "
                   "selects no pod of the release")
    bad += _intent(obj, selected, pods, components)
    rules = []
    for direction in ("ingress", "egress"):
        for rule in live.spec.get(direction) or []:
            lines, problems = _peers(rule, pods, name)
            rules += [f"{direction} from {line}" if direction == "ingress" else f"egress to {line}" for line in lines]
            bad += problems
    types = "/".join(live.spec.get("policyTypes") or ["Ingress"])
    evidence = [f"NetworkPolicy {name} ({types}) applies to {_names(selected)}; "
                + ("; ".join(rules) if rules else "no rule: all such traffic denied")]
    return bad, evidence, {p.name for p in selected}


def enforcement_note(snap: Snapshot) -> str:
    simulated = sorted(p.name for p in snap.pods if p.labels.get(INSTANCE) == snap.release and not p.terminating
                       and snap.node_kind(p.node_name) == SIMULATED)
    if simulated:
        return (f"enforcement is the CNI's job, and for {len(simulated)} pod(s) nothing enforces: they are simulated "
                "(kwok) and run no network plugin; this check verifies the objects and their selectors only")
    return ("enforcement is the CNI's job: these objects block traffic only if the cluster's network plugin "
            "implements NetworkPolicy; this check verifies the objects and their selectors, it sends no traffic")


def check_network_policies(expected: Rendered, snap: Snapshot) -> Result:
    rendered = expected.by_kind("NetworkPolicy")
    if not rendered:
        return Result("network-policies", SKIP, [
            "nothing to check: this env renders no NetworkPolicy (every pod accepts traffic from anywhere)"])
    pods = [p for p in snap.pods if p.labels.get(INSTANCE) == snap.release and not p.terminating]
    bad: list[str] = []
    good: list[str] = []
    covered: set[str] = set()
    for obj in rendered:
        problems, evidence, selected = _policy(obj, snap, pods, {component(o) for o in workloads(expected)})
        bad, good, covered = bad + problems, good + evidence, covered | selected
    extra = sorted(set(snap.network_policies) - {o["metadata"]["name"] for o in rendered})
    if extra:
        good.append(f"also live, not rendered (policies add up): {', '.join(extra)}")
    uncovered = sorted(p.name for p in pods if p.name not in covered)
    note = enforcement_note(snap)
    if bad:
        return Result("network-policies", FAIL, bad + good + [note], FIX)
    if uncovered:
        return Result("network-policies", WARN, [f"pods no rendered policy selects (they accept any traffic): "
                                                 f"{', '.join(uncovered)}"] + good + [note],
                      "add the component to the chart's NetworkPolicies")
    return Result("network-policies", PASS, good + [note])
