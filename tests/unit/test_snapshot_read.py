"""Reading the cluster into a Snapshot, on kubernetes client models built in memory (no cluster):
the conversion keeps what the checks read, LISTs each kind once, and keeps no Secret value."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import NODE_KIND_LABEL, REAL, SIMULATED
from deploytool.deploy import snapshot_read
from deploytool.deploy.snapshot import Node, Pod, Snapshot
from deploytool.deploy.snapshot_read import (
    LiveCluster,
    _healthz,
    healthz_targets,
    node_from,
    pod_from,
    secret_value_hits,
)


class _Api(client.ApiClient):
    total = 0


def _list(kube: Any, items: list[Any]) -> Any:
    def call(*_args: Any, **_kwargs: Any) -> Any:
        kube.api.total += 1
        return SimpleNamespace(items=items)
    return call


def fake_kube(**lists: list[Any]) -> Any:
    kube = SimpleNamespace(api=_Api())
    kube.core = SimpleNamespace(**{f"list_namespaced_{k}": _list(kube, v) for k, v in lists.items()})
    return kube


def test_pod_conversion_keeps_what_the_checks_read() -> None:
    meta = client.V1ObjectMeta(name="milvus-proxy-a", namespace="milvus-prod",
                               labels={"app.kubernetes.io/component": "proxy"}, annotations={"checksum/config": "abc"})
    container = client.V1Container(
        name="proxy", image="milvusdb/milvus:v2.6.4",
        resources=client.V1ResourceRequirements(requests={"cpu": "1"}, limits={"cpu": "2"}),
        env=[client.V1EnvVar(name="MINIO_ACCESS_KEY_ID", value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name="milvus-credentials", key="access-key"))),
             client.V1EnvVar(name="PLAIN", value="x")],
        security_context=client.V1SecurityContext(allow_privilege_escalation=False,
                                                  capabilities=client.V1Capabilities(drop=["ALL"])))
    spec = client.V1PodSpec(containers=[container], node_name="node-1", volumes=[
        client.V1Volume(name="config", config_map=client.V1ConfigMapVolumeSource(name="milvus-config"))],
        security_context=client.V1PodSecurityContext(seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")))
    status = client.V1PodStatus(phase="Running", pod_ip="10.0.0.1", qos_class="Burstable",
                                conditions=[client.V1PodCondition(type="Ready", status="True")],
                                container_statuses=[client.V1ContainerStatus(
                                    name="proxy", restart_count=4, ready=False, image="i", image_id="i",
                                    state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(
                                        reason="CrashLoopBackOff")))])
    pod = pod_from(fake_kube(), client.V1Pod(metadata=meta, spec=spec, status=status))
    assert pod.serving and pod.node_name == "node-1" and pod.pod_ip == "10.0.0.1" and not pod.terminating
    assert pod.config_map_volumes == ["milvus-config"]
    assert pod.security_context == {"seccompProfile": {"type": "RuntimeDefault"}}  # the manifest's spelling
    c = pod.containers[0]
    assert (c.requests, c.limits) == ({"cpu": "1"}, {"cpu": "2"})
    assert c.secret_env == {"MINIO_ACCESS_KEY_ID": "milvus-credentials"}
    assert c.security_context == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    status = pod.container_statuses[0]
    assert (status.restart_count, status.waiting_reason) == (4, "CrashLoopBackOff")


def _secret(name: str, **data: str) -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name),
                           data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()})


def test_configmaps_and_secrets_are_read_once_and_no_secret_value_is_kept() -> None:
    kube = fake_kube(
        config_map=[client.V1ConfigMap(metadata=client.V1ObjectMeta(name="leaky"),
                                       data={"app.conf": "key: s3cr3t-value\n", "ok": "nothing here"})],
        secret=[_secret("milvus-credentials", **{"access-key": "AKIA1", "secret-key": "s3cr3t-value"}),
                _secret("short", token="abc")])
    loader, snap = LiveCluster(kube, "milvus-prod"), Snapshot("milvus-prod")
    loader.load(snap, ("configmaps", "secrets"))
    loader.load(snap, ("secrets",))
    assert loader.api_calls == 2  # one LIST of each kind, however often asked
    assert snap.secrets["milvus-credentials"].keys == ["access-key", "secret-key"]
    assert snap.configmaps["leaky"].secret_values_in == {"app.conf": ["milvus-credentials"]}
    dumped = json.dumps(asdict(snap))
    assert "AKIA1" not in dumped and base64.b64encode(b"s3cr3t-value").decode() not in dumped
    assert dumped.count("s3cr3t-value") == 1  # only inside the ConfigMap's own data, where it leaked


def test_secret_value_hits_ignore_values_too_short_to_mean_anything() -> None:
    hits = secret_value_hits({"cm": {"a": "port: 9000 abc", "b": "token=LongEnough"}},
                             {"s1": ["abc", "LongEnough"], "s2": ["9000"]})
    assert hits == {"cm": {"a": ["s2"], "b": ["s1"]}}


def test_a_failed_read_is_retried_not_taken_as_empty() -> None:
    kube = fake_kube(config_map=[], secret=[])
    calls = {"n": 0}

    def flaky(*_args: Any, **_kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("connection reset")
        return SimpleNamespace(items=[client.V1Pod(metadata=client.V1ObjectMeta(name="p"), spec=client.V1PodSpec(
            containers=[]), status=client.V1PodStatus(phase="Running"))])

    kube.core.list_namespaced_pod = flaky
    loader, snap = LiveCluster(kube, "ns"), Snapshot("ns")
    with pytest.raises(OSError):
        loader.load(snap, ("pods",))
    loader.load(snap, ("pods",))
    assert [p.name for p in snap.pods] == ["p"]


def test_last_termination_and_node_kind_are_read() -> None:
    statuses = [client.V1ContainerStatus(
        name="querynode", restart_count=2, ready=False, image="i", image_id="i",
        state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="CrashLoopBackOff")),
        last_state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(
            exit_code=137, reason="OOMKilled")))]
    pod = pod_from(fake_kube(), client.V1Pod(metadata=client.V1ObjectMeta(name="q"), spec=client.V1PodSpec(
        containers=[client.V1Container(name="querynode")]), status=client.V1PodStatus(
        phase="Running", container_statuses=statuses)))
    status = pod.container_statuses[0]
    assert (status.last_terminated_reason, status.last_exit_code, status.terminated_reason) == ("OOMKilled", 137, "")

    def node(name: str, labels: dict[str, str] | None) -> client.V1Node:
        return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels), spec=client.V1NodeSpec(),
                             status=client.V1NodeStatus(allocatable={}))

    assert node_from(node("r", {NODE_KIND_LABEL: REAL}), SIMULATED).kind == REAL
    assert node_from(node("k", {NODE_KIND_LABEL: SIMULATED}), REAL).kind == SIMULATED
    assert node_from(node("plain", None), SIMULATED).kind == SIMULATED  # no label: the provider's default
    assert node_from(node("plain", None)).kind == REAL


def _probe_snapshot() -> Snapshot:
    labels = {"app.kubernetes.io/component": "querynode", "app.kubernetes.io/instance": "milvus"}
    snap = Snapshot("milvus-staging", nodes={"real-1": Node("real-1", kind=REAL),
                                             "kwok-1": Node("kwok-1", kind=SIMULATED)})
    snap.pods = [Pod("q-real", labels=labels, node_name="real-1", pod_ip="10.244.1.2"),
                 Pod("q-kwok", labels=labels, node_name="kwok-1", pod_ip="10.0.0.9"),
                 Pod("q-pending", labels=labels, phase="Pending")]
    return snap


def test_healthz_is_asked_of_every_running_pod_on_a_real_node_only() -> None:
    assert [p.name for p in healthz_targets(_probe_snapshot(), "querynode")] == ["q-real"]


def _proxy_kube(answer: Any) -> Any:
    calls: list[tuple[str, str, str]] = []

    def proxy(name: str, namespace: str, path: str, **_kwargs: Any) -> Any:
        calls.append((name, namespace, path))
        if isinstance(answer, Exception):
            raise answer
        return answer
    kube = SimpleNamespace(core=SimpleNamespace(connect_get_namespaced_pod_proxy_with_path=proxy))
    return kube, calls


def test_healthz_goes_through_the_api_servers_pod_proxy() -> None:
    kube, calls = _proxy_kube("OK\n")
    answer = _healthz(kube, "milvus-staging", "querynode", Pod("q-real", pod_ip="10.244.1.2"))
    assert calls == [("q-real:9091", "milvus-staging", "healthz")]
    assert (answer.ok, answer.body, answer.via) == (True, "OK", "api-server pod proxy")


def test_an_error_status_from_the_pod_is_its_answer_not_a_reason_to_port_forward() -> None:
    exc = ApiException(status=500, reason="Internal Server Error")
    exc.body = "Not all components are healthy, 2/3"
    kube, _ = _proxy_kube(exc)
    answer = _healthz(kube, "ns", "querynode", Pod("q", pod_ip="10.244.1.2"))
    assert (answer.ok, answer.body) == (False, "HTTP 500: Not all components are healthy, 2/3")


def test_an_unreachable_pod_falls_back_to_a_port_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    exc = ApiException(status=503, reason="Service Unavailable")
    exc.body = '{"kind":"Status","message":"error trying to reach service: dial tcp 10.244.1.2:9091: no route"}'
    kube, _ = _proxy_kube(exc)
    forwarded: list[tuple[str, str, int]] = []

    class Forward:
        def __init__(self, _core: Any, namespace: str, pod: str, port: int) -> None:
            forwarded.append((namespace, pod, port))

        def __enter__(self) -> int:
            raise OSError("kubelet refused the port-forward")

        def __exit__(self, *_exc: Any) -> None:
            return None

    monkeypatch.setattr(snapshot_read, "PodPortForward", Forward)
    answer = _healthz(kube, "ns", "querynode", Pod("q", pod_ip="10.244.1.2"))
    assert forwarded == [("ns", "q", 9091)]
    assert not answer.ok and "kubelet refused the port-forward" in answer.body
    assert answer.via.startswith("port-forward (the API server's pod proxy failed: HTTP 503")
