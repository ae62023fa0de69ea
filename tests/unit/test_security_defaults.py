"""Secure defaults on the rendered objects of every environment (and prod on a 3.0 tag).

Every pod and container: no privilege escalation, capabilities dropped, RuntimeDefault seccomp,
ephemeral-storage requests and limits; non-root wherever the image allows it (etcd, MinIO,
Milvus 3.x); NetworkPolicies in staging and prod that let through exactly what the chart promises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploytool.render.manifests import Rendered
from deploytool.render.network_policy import Endpoint, allows, selecting
from deploytool.render.versions import LATEST_PATCHES

V3_TAG = str(LATEST_PATCHES[(3, 0)])
CASES: dict[str, tuple[str, ...]] = {
    "dev": ("dev",), "staging": ("staging",), "prod": ("prod",), "prod-v3": ("prod", f"image.tag={V3_TAG}"),
    "dev-policies": ("dev", "networkPolicy.enabled=true", "networkPolicy.monitoringNamespace=monitoring")}
MILVUS_ROLES = {"proxy", "mixcoord", "querynode", "datanode", "streamingnode", "standalone"}


@pytest.fixture(scope="module")
def rendered(render_env: Callable[..., Rendered]) -> Callable[[str], Rendered]:
    """case name -> its rendered objects (conftest's per-session render cache)."""
    return lambda case: render_env(*CASES[case])


def workloads(r: Rendered) -> list[dict[str, Any]]:
    return r.by_kind("Deployment") + r.by_kind("StatefulSet")


def component(obj: dict[str, Any]) -> str:
    return obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.mark.parametrize("case", list(CASES))
def test_every_container_is_hardened_and_bounded(case: str, rendered: Callable[[str], Rendered]) -> None:
    for obj in workloads(rendered(case)):
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, obj["metadata"]["name"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{obj['metadata']['name']}/{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not sc.get("privileged"), where
            for kind in ("requests", "limits"):
                assert container["resources"][kind].get("ephemeral-storage"), (where, kind)


@pytest.mark.parametrize("case", list(CASES))
def test_non_root_wherever_the_image_allows(case: str, rendered: Callable[[str], Rendered]) -> None:
    expected = {"etcd": 1001, "minio": 1000}
    for obj in workloads(rendered(case)):
        pod_sc = obj["spec"]["template"]["spec"]["securityContext"]
        comp = component(obj)
        tag = obj["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        if comp in expected:
            assert pod_sc["runAsUser"] == pod_sc["fsGroup"] == expected[comp] and pod_sc["runAsNonRoot"], comp
        elif tag.startswith("v3."):
            assert pod_sc["runAsUser"] == 999 and pod_sc["runAsNonRoot"] and pod_sc["fsGroup"] == 999, comp
        else:  # Milvus 2.6 images run as root (docs/security.md): the chart must not claim otherwise
            assert "runAsNonRoot" not in pod_sc and "runAsUser" not in pod_sc, comp
    if case == "prod-v3":
        assert any(component(o) in MILVUS_ROLES for o in workloads(rendered(case)))


def test_etcd_runs_with_a_read_only_root(rendered: Callable[[str], Rendered]) -> None:
    etcd = rendered("prod").get("StatefulSet", "milvus-etcd")
    container = etcd["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/bitnami/etcd", "/tmp"}


def test_dev_renders_no_network_policy_and_staging_prod_do(rendered: Callable[[str], Rendered]) -> None:
    assert rendered("dev").by_kind("NetworkPolicy") == []
    for case in ("staging", "prod"):
        policies = rendered(case).by_kind("NetworkPolicy")
        assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in policies} == {"networkpolicy"}
        for obj in workloads(rendered(case)):
            pod = Endpoint(obj["metadata"]["namespace"], obj["spec"]["template"]["metadata"]["labels"])
            assert selecting(policies, pod), f"{obj['metadata']['name']} is selected by no NetworkPolicy"


def _pods(r: Rendered) -> dict[str, Endpoint]:
    return {component(o): Endpoint(o["metadata"]["namespace"], o["spec"]["template"]["metadata"]["labels"])
            for o in workloads(r)}


@pytest.mark.parametrize("case", ["staging", "prod", "dev-policies"])
def test_network_policies_let_through_exactly_what_the_chart_promises(
        case: str, rendered: Callable[[str], Rendered]) -> None:
    r = rendered(case)
    policies, pods = r.by_kind("NetworkPolicy"), _pods(r)
    ns = r.target.namespace
    outsider = Endpoint("elsewhere", {"app": "client"})
    neighbour = Endpoint(ns, {"app": "sidecar-job"})
    monitoring = Endpoint("monitoring", {"app": "prometheus"})
    roles = {name: pod for name, pod in pods.items() if name in MILVUS_ROLES}
    entry = "standalone" if "standalone" in roles else "proxy"
    for name, pod in roles.items():
        # clients: 19530 only at the entry point; nothing else from outside the namespace
        assert allows(policies, outsider, pod, 19530) == (name == entry), name
        assert not allows(policies, outsider, pod, 9091), name
        # metrics/healthz: the namespace and the named monitoring namespace
        assert allows(policies, neighbour, pod, 9091), name
        assert not allows(policies, neighbour, pod, 53100), name
        assert allows(policies, monitoring, pod, 9091) == (case == "dev-policies"), name
        # Milvus roles reach each other on any port
        for other in roles.values():
            assert allows(policies, other, pod, 21123), (name, other)
    for dep, ports in (("etcd", (2379,)), ("minio", (9000,))):
        if dep not in pods:
            continue
        for port in ports:
            assert all(allows(policies, role, pods[dep], port) for role in roles.values()), dep
            for stranger in (outsider, neighbour, monitoring):
                assert not allows(policies, stranger, pods[dep], port), (dep, stranger)
        assert allows(policies, pods[dep], pods[dep], ports[0]), f"{dep} members reach each other"
    if "etcd" in pods:
        assert allows(policies, pods["etcd"], pods["etcd"], 2380)
        assert not allows(policies, pods[entry], pods["etcd"], 2380), "Milvus pods do not speak etcd's peer port"
        if "minio" in pods:
            assert not allows(policies, pods["minio"], pods["etcd"], 2379), "MinIO does not reach etcd"
