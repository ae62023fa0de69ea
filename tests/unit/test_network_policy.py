"""NetworkPolicy semantics of deploytool.render.network_policy, as a table."""

from __future__ import annotations

import pytest

from deploytool.render.network_policy import Endpoint, allows, selects


def policy(pod_selector, ingress, types=("Ingress",), namespace="ns"):
    return {"metadata": {"name": "p", "namespace": namespace},
            "spec": {"podSelector": pod_selector, "ingress": ingress, "policyTypes": list(types)}}


DB = Endpoint("ns", {"app": "db"})
WEB = Endpoint("ns", {"app": "web"})
OTHER_NS_WEB = Endpoint("other", {"app": "web"})
ONLY_WEB_5432 = policy({"matchLabels": {"app": "db"}},
                       [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}])


@pytest.mark.parametrize("policies, source, dest, port, expected", [
    ([], WEB, DB, 5432, True),  # no policy selects the pod: everything is allowed
    ([ONLY_WEB_5432], WEB, DB, 5432, True),
    ([ONLY_WEB_5432], WEB, DB, 22, False),  # wrong port
    ([ONLY_WEB_5432], DB, DB, 5432, False),  # wrong source
    ([ONLY_WEB_5432], OTHER_NS_WEB, DB, 5432, False),  # a bare podSelector means the policy's namespace
    ([ONLY_WEB_5432], DB, WEB, 80, True),  # WEB is not selected
    ([policy({}, [])], WEB, DB, 80, False),  # selected with no rules: deny all ingress
    ([policy({}, [{}])], OTHER_NS_WEB, DB, 80, True),  # an empty rule admits everything
    ([policy({}, [], types=("Egress",))], WEB, DB, 80, True),  # egress-only policies do not restrict ingress
    ([policy({}, [], namespace="other")], WEB, DB, 80, True),  # a policy in another namespace
    ([policy({}, [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
                            "podSelector": {"matchLabels": {"app": "web"}}}]}])], OTHER_NS_WEB, DB, 1, True),
    ([policy({}, [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
                            "podSelector": {"matchLabels": {"app": "db"}}}]}])], OTHER_NS_WEB, DB, 1, False),
    ([ONLY_WEB_5432, policy({"matchLabels": {"app": "db"}}, [{"ports": [{"port": 22}]}])], DB, DB, 22, True),
])
def test_allows(policies, source, dest, port, expected) -> None:
    assert allows(policies, source, dest, port) is expected


@pytest.mark.parametrize("selector, labels, expected", [
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "c", "operator": "In", "values": ["x", "y"]}]}, {"c": "y"}, True),
    ({"matchExpressions": [{"key": "c", "operator": "In", "values": ["x"]}]}, {}, False),
    ({"matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["x"]}]}, {}, True),
    ({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, {"c": ""}, True),
    ({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, {"c": ""}, False),
])
def test_selects(selector, labels, expected) -> None:
    assert selects(selector, labels) is expected
