"""The Milvus stand-in, etcd and MinIO images as real containers on a real node.

The cluster is test_real_nodes.py's (real nodes only; one such cluster per machine, its fixture waits
for another session's), with the images built here imported into every node. The pods
are hand-written to the chart's contract (args `milvus run <role>`, user.yaml mounted at
/milvus/configs/user.yaml, MINIO_* from a Secret, readiness /healthz and liveness /livez on 9091):
wiring the chart itself onto real nodes is the provider's next step (issue 13).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from real_up import wait
from test_real_nodes import RealCluster, ns, real_cluster  # noqa: F401 - the shared real-node fixtures

from deploytool.clusters.local import realnodes, standin_images
from deploytool.clusters.local.layout import Layout
from deploytool.core.conditions import is_ready
from deploytool.core.kube import Kube
from deploytool.core.portforward import PodPortForward

pytestmark = pytest.mark.cluster
MILVUS_TAG = "v2.6.24"
KEY, SECRET = "standin-pod-user", "standin-pod-secret"


_wait = wait  # real_up.wait: poll until truthy, ApiException counts as not yet


@pytest.fixture(scope="module")
def cluster(real_cluster: RealCluster) -> tuple[str, client.ApiClient, dict[str, str]]:  # noqa: F811
    """test_real_nodes.py's cluster with real nodes, plus the stand-in, etcd and MinIO images."""
    built = standin_images.local_images([MILVUS_TAG], log=lambda m: None)
    realnodes.import_into_nodes(real_cluster.layout, built)
    return real_cluster.name, real_cluster.kube.api, {b.ref.split("/")[-1].split(":")[0]: b.ref for b in built}


def _milvus_pod(name: str, image: str, role: str, secret: bool = True) -> dict[str, Any]:
    env = [{"name": env, "valueFrom": {"secretKeyRef": {"name": "minio", "key": key}}}
           for env, key in (("MINIO_ACCESS_KEY_ID", "user"), ("MINIO_SECRET_ACCESS_KEY", "password"))] if secret else []
    container = {
        "name": role, "image": image, "imagePullPolicy": "Never", "args": ["milvus", "run", role], "env": env,
        "ports": [{"name": "milvus", "containerPort": 19530}, {"name": "metrics", "containerPort": 9091}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "metrics"}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/milvus/configs/user.yaml", "subPath": "user.yaml"},
                         {"name": "data", "mountPath": "/var/lib/milvus"}],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 5,
                     "volumes": [{"name": "config", "configMap": {"name": name}}, {"name": "data", "emptyDir": {}}]}}


def _config_map(core: client.CoreV1Api, namespace: str, name: str, user_yaml: dict[str, Any]) -> None:
    body = {"metadata": {"name": name}, "data": {"user.yaml": yaml.safe_dump(user_yaml)}}
    core.create_namespaced_config_map(namespace, body)


def _ready(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 180) -> Any:
    try:
        return _wait(lambda: (lambda p: p if is_ready(p) else None)(core.read_namespaced_pod(name, namespace)), timeout,
                     f"pod {namespace}/{name} Ready")
    except AssertionError as exc:
        pod = core.read_namespaced_pod(name, namespace)
        try:
            logs = core.read_namespaced_pod_log(name, namespace, tail_lines=30)
        except ApiException as log_exc:
            logs = f"(no logs: {log_exc.reason})"
        raise AssertionError(f"{exc}\nstatus: {pod.status.container_statuses}\nlogs:\n{logs}") from None


def test_standalone_pod_is_ready_on_its_real_probe_and_serves_pymilvus(cluster, ns):  # noqa: F811
    pymilvus = pytest.importorskip("pymilvus")
    name, api, refs = cluster
    core = client.CoreV1Api(api)
    _config_map(core, ns, "standalone", {
        "etcd": {"use": {"embed": True}, "data": {"dir": "/var/lib/milvus/etcd"}},
        "common": {"storageType": "local"}, "localStorage": {"path": "/var/lib/milvus/data/"},
        "mq": {"type": "woodpecker"}, "woodpecker": {"storage": {"type": "local", "rootPath": "/var/lib/milvus/wp"}}})
    core.create_namespaced_pod(ns, _milvus_pod("standalone", refs["milvus-standin"], "standalone", secret=False))
    _ready(core, ns, "standalone")
    assert "THIS IS A STAND-IN for Milvus" in core.read_namespaced_pod_log("standalone", ns)
    with PodPortForward(Kube(str(Layout(name).kubeconfig), name).core, ns, "standalone", 19530) as port:
        milvus = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{port}")
        milvus.create_collection("on_a_real_node", dimension=2)
        milvus.insert("on_a_real_node", [{"id": 5, "vector": [0.3, 0.7]}])
        assert milvus.search("on_a_real_node", data=[[0.3, 0.7]], limit=1)[0][0]["id"] == 5


def test_streamingnode_pod_passes_woodpeckers_check_on_a_minio_pod_and_a_wrong_key_crash_loops(cluster, ns):  # noqa: F811
    _, api, refs = cluster
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(ns, {"metadata": {"name": "minio"}, "stringData": {"user": KEY, "password": SECRET}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "wrong"}, "stringData": {"user": KEY, "password": "nope"}})
    core.create_namespaced_pod(ns, {"apiVersion": "v1", "kind": "Pod",
                                    "metadata": {"name": "etcd", "labels": {"app": "etcd"}}, "spec": {"containers": [{
        "name": "etcd", "image": refs["etcd"], "imagePullPolicy": "Never", "command": ["etcd"],
        "args": ["--data-dir=/tmp/etcd", "--listen-client-urls=http://0.0.0.0:2379",
                 "--advertise-client-urls=http://milvus-etcd:2379"],
        "readinessProbe": {"httpGet": {"path": "/health", "port": 2379}, "periodSeconds": 2}}]}})
    core.create_namespaced_pod(ns, {"apiVersion": "v1", "kind": "Pod",
                                    "metadata": {"name": "minio", "labels": {"app": "minio"}}, "spec": {"containers": [{
        "name": "minio", "image": refs["minio"], "imagePullPolicy": "Never",
        "args": ["server", "/data", "--address", ":9000", "--console-address", ":9001"],
        "env": [{"name": "MINIO_ROOT_USER", "value": KEY}, {"name": "MINIO_ROOT_PASSWORD", "value": SECRET}],
        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": 9000}, "periodSeconds": 2}}]}})
    # Services named like the chart's (<release>-etcd, <release>-minio). Not `minio`: the kubelet's service
    # links would inject MINIO_PORT=tcp://..., which Milvus (and the stand-in) read as minio.port.
    for app, port in (("etcd", 2379), ("minio", 9000)):
        core.create_namespaced_service(ns, {"metadata": {"name": f"milvus-{app}"}, "spec": {
            "selector": {"app": app}, "ports": [{"port": port, "targetPort": port}]}})
    _ready(core, ns, "etcd")
    _ready(core, ns, "minio")
    user_yaml = {"etcd": {"endpoints": [f"milvus-etcd.{ns}.svc.cluster.local:2379"]},
                 "common": {"storageType": "remote"},
                 "minio": {"address": f"milvus-minio.{ns}.svc.cluster.local", "port": 9000,
                           "bucketName": "milvus-bucket", "rootPath": "files", "useSSL": False},
                 "mq": {"type": "woodpecker"}, "woodpecker": {"storage": {"type": "minio"}}}
    _config_map(core, ns, "streamingnode", user_yaml)
    core.create_namespaced_pod(ns, _milvus_pod("streamingnode", refs["milvus-standin"], "streamingnode"))
    _ready(core, ns, "streamingnode")
    assert "Condition write verification succeeded" in core.read_namespaced_pod_log("streamingnode", ns)
    _config_map(core, ns, "querynode", user_yaml)
    bad = _milvus_pod("querynode", refs["milvus-standin"], "querynode")
    for env in bad["spec"]["containers"][0]["env"]:
        env["valueFrom"]["secretKeyRef"]["name"] = "wrong"
    core.create_namespaced_pod(ns, bad)

    def crash_looping() -> Any:
        status = core.read_namespaced_pod("querynode", ns).status.container_statuses
        return status and status[0].restart_count >= 1 and not status[0].ready

    _wait(crash_looping, 240, "the querynode with a wrong MinIO key to crash-loop")
    previous = core.read_namespaced_pod_log("querynode", ns, previous=True)
    assert "refused access key" in previous and "SignatureDoesNotMatch" in previous
