"""What a set of NetworkPolicies lets through, computed from the objects alone (ingress only).

Follows the NetworkPolicy API's semantics: a pod selected by no ingress policy accepts everything;
a selected pod accepts a connection when any rule of any selecting policy admits both the source
(a `from` peer: podSelector in the policy's namespace, namespaceSelector, or both) and the port.
ipBlock peers are not modelled (the chart renders none). Pure data in, booleans out: used by the
unit tests on rendered manifests and usable by `verify` on a cluster snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod as a policy sees it: its labels and its namespace."""

    namespace: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {NAMESPACE_NAME_LABEL: self.namespace}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels ({} selects everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _is_ingress(policy: dict[str, Any]) -> bool:
    types = policy["spec"].get("policyTypes")
    return "Ingress" in types if types else True


def selecting(policies: list[dict[str, Any]], pod: Endpoint) -> list[dict[str, Any]]:
    return [p for p in policies if _is_ingress(p) and p["metadata"].get("namespace") == pod.namespace
            and selects(p["spec"].get("podSelector"), pod.labels)]


def _peer_admits(peer: dict[str, Any], policy_ns: str, source: Endpoint) -> bool:
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    if ns_sel is None and pod_sel is None:
        return False  # an ipBlock-only peer: not modelled, admits no pod here
    ns_ok = selects(ns_sel, source.namespace_labels) if ns_sel is not None else source.namespace == policy_ns
    return ns_ok and (pod_sel is None or selects(pod_sel, source.labels))


def _port_admits(ports: list[dict[str, Any]] | None, port: int) -> bool:
    if not ports:
        return True
    return any(p.get("port") in (None, port) and p.get("protocol", "TCP") == "TCP" for p in ports)


def allows(policies: list[dict[str, Any]], source: Endpoint, dest: Endpoint, port: int) -> bool:
    """True when a TCP connection from `source` to `dest`:`port` is admitted."""
    chosen = selecting(policies, dest)
    if not chosen:
        return True
    for policy in chosen:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if (not peers or any(_peer_admits(peer, dest.namespace, source) for peer in peers)) and \
                    _port_admits(rule.get("ports"), port):
                return True
    return False
