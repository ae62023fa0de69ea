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

from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.snapshot_read import LiveCluster, pod_from, secret_value_hits


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
