"""Every verify check on the live local cluster: passes on a fresh `up --env prod`, and fails (or
warns) for the right reason, naming the object, when the cluster is broken by hand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube

pytestmark = pytest.mark.cluster
runner = CliRunner()
ENV = "prod"
NS = Target(ENV).namespace


@pytest.fixture(scope="module")
def prod(local_cluster) -> Iterator[dict]:
    where = ["--provider", "local", "--context", local_cluster.name]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "verify-access")
        mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "verify-secret-value")
        result = runner.invoke(app, ["up", "--env", ENV, *where, "--output", "json"])
        assert result.exit_code == 0, result.output
        kube = Kube(str(local_cluster.kubeconfig), local_cluster.context)
        helm = Helm(str(local_cluster.kubeconfig), local_cluster.context)
        try:
            yield {"where": where, "kube": kube, "helm": helm}
        finally:
            runner.invoke(app, ["down", "--env", ENV, *where, "--delete-data"])


def verify(prod: dict, *checks: str) -> tuple[int, dict[str, dict]]:
    args = ["verify", "--env", ENV, *prod["where"], "--output", "json"]
    for check in checks:
        args += ["--check", check]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    return result.exit_code, {r["name"]: r for r in data["results"]}


def evidence(result: dict) -> str:
    return "\n".join(result["evidence"])


def repair(prod: dict) -> None:
    """Back to the rendered state the way a user would: `up` finds the drift and repairs it."""
    result = runner.invoke(app, ["up", "--env", ENV, *prod["where"], "--no-smoke", "--no-verify", "--output", "json"])
    assert result.exit_code == 0, result.output
    helm_step = next(s for s in json.loads(result.stdout)["steps"] if s["name"] == "helm upgrade --install")
    assert "repair drift" in helm_step["detail"], helm_step
    wait_until(lambda: verify(prod, "workloads")[0] == 0, 120, "workloads settled after repair")


def wait_until(fn, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def rogue_pod(prod: dict, component: str, node: str, name: str) -> Iterator[str]:
    """A pod that carries a component's labels but was placed by hand (nodeName: no scheduler)."""
    core = prod["kube"].core
    labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus",
              "app.kubernetes.io/component": component}
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels=labels), spec=client.V1PodSpec(
        node_name=node, containers=[client.V1Container(name=component, image="milvusdb/milvus:v2.6.24")]))
    core.create_namespaced_pod(NS, pod)
    try:
        wait_until(lambda: any(c.type == "Ready" and c.status == "True"
                               for c in core.read_namespaced_pod(name, NS).status.conditions or []), 60,
                   f"{name} ready")
        yield name
    finally:
        core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
        wait_until(lambda: name not in {p.metadata.name for p in core.list_namespaced_pod(NS).items}, 60,
                   f"{name} gone")


def first_node_in_zone(prod: dict, zone: str) -> str:
    return sorted(n.metadata.name for n in prod["kube"].core.list_node().items
                  if (n.metadata.labels or {}).get("topology.kubernetes.io/zone") == zone)[0]


def pods_of(prod: dict, component: str) -> list:
    return prod["kube"].core.list_namespaced_pod(
        NS, label_selector=f"app.kubernetes.io/component={component}").items


def test_fresh_prod_passes_every_check(prod: dict) -> None:
    code, results = verify(prod)
    assert code == 0, {n: r["evidence"] for n, r in results.items() if r["status"] == "fail"}
    assert set(results) == {"release", "workloads", "statefulset-identity", "anti-affinity", "zone-spread", "hpa",
                            "pdb", "service", "config-and-secret", "resources", "oom-killed", "network-policies",
                            "security-context", "milvus"}
    assert "top hit is the query itself" in evidence(results["milvus"])
    assert "/healthz not checked on" in evidence(results["milvus"])  # kwok pods: nothing real to ask
    assert results["oom-killed"]["status"] == "skip"  # no container runs on a simulated node
    assert "milvus.milvus-prod.svc.cluster.local" in evidence(results["service"])


def test_network_policies_and_security_contexts_pass_and_say_what_enforces(prod: dict) -> None:
    code, results = verify(prod, "network-policies", "security-context")
    assert code == 0, results
    network = results["network-policies"]
    assert network["status"] == "pass", network
    assert "NetworkPolicy milvus-etcd (Ingress) applies to etcd x3" in evidence(network)
    assert "nothing enforces: they are simulated (kwok)" in evidence(network)
    security = results["security-context"]
    assert security["status"] == "pass", security
    assert "querynode: 3 pod(s) carry the rendered securityContext" in evidence(security)


def test_network_policies_fail_when_deleted_or_edited(prod: dict) -> None:
    networking = client.NetworkingV1Api(prod["kube"].api)
    networking.delete_namespaced_network_policy("milvus-etcd", NS)
    networking.patch_namespaced_network_policy("milvus-client", NS, {"spec": {"ingress": [
        {"ports": [{"port": 19530, "protocol": "TCP"}, {"port": 9000, "protocol": "TCP"}]}]}})
    try:
        code, results = verify(prod, "network-policies")
        assert code == 1
        text = evidence(results["network-policies"])
        assert "NetworkPolicy milvus-etcd missing" in text
        assert "NetworkPolicy milvus-client: live spec differs from the render" in text
    finally:
        repair(prod)
    assert verify(prod, "network-policies")[0] == 0


def test_security_context_fails_when_a_pod_template_is_weakened(prod: dict) -> None:
    prod["kube"].apps.patch_namespaced_deployment("milvus-datanode", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "datanode", "securityContext": {"allowPrivilegeEscalation": True}}]}}}})
    try:
        def weakened() -> bool:
            pods = [p for p in pods_of(prod, "datanode") if not p.metadata.deletion_timestamp]
            return bool(pods) and all(p.spec.containers[0].security_context.allow_privilege_escalation for p in pods)
        wait_until(weakened, 90, "datanode pods allowing privilege escalation")
        code, results = verify(prod, "security-context")
        assert code == 1
        text = evidence(results["security-context"])
        assert "/datanode: securityContext allowPrivilegeEscalation is True, rendered False" in text
    finally:
        repair(prod)


def test_text_output_shows_evidence_and_api_calls_per_check(prod: dict) -> None:
    result = runner.invoke(app, ["verify", "--env", ENV, *prod["where"], "--check", "pdb", "--check", "hpa",
                                 "--check", "network-policies", "-v"])
    assert result.exit_code == 0, result.output
    assert "hpa: pass [2 API calls]" in result.output  # one LIST of HPAs, one of Deployments
    assert "pdb: pass [2 API calls]" in result.output  # PDBs and pods
    assert "PDB milvus-querynode: selects 3 querynode pods" in result.output
    assert "network-policies: " in result.output and "0 failed" in result.output


def test_workloads_fail_when_scaled_by_hand(prod: dict) -> None:
    prod["kube"].apps.patch_namespaced_deployment_scale("milvus-datanode", NS, {"spec": {"replicas": 1}})
    try:
        code, results = verify(prod, "workloads")
        assert code == 1
        assert "Deployment/milvus-datanode: 1 replicas, env says 2" in evidence(results["workloads"])
    finally:
        repair(prod)


def test_workloads_fail_on_unexpected_image(prod: dict) -> None:
    prod["kube"].apps.patch_namespaced_deployment("milvus-mixcoord", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "mixcoord", "image": "milvusdb/milvus:v2.6.20"}]}}}})
    try:
        wait_until(lambda: all(p.spec.containers[0].image.endswith("v2.6.20") for p in pods_of(prod, "mixcoord")),
                   90, "mixcoord rolled to v2.6.20")
        code, results = verify(prod, "workloads")
        assert code == 1
        assert "Deployment/milvus-mixcoord: image" in evidence(results["workloads"])
    finally:
        repair(prod)


def test_statefulset_identity_deep_and_terminating_pvc(prod: dict) -> None:
    result = runner.invoke(app, ["verify", "--env", ENV, *prod["where"], "--check", "statefulset-identity",
                                 "--deep", "--output", "json"])
    assert result.exit_code == 0, result.output
    text = evidence(json.loads(result.stdout)["results"][0])
    # prod runs MinIO distributed (4 pods); the deep check deletes the highest ordinal
    assert "returned as milvus-minio-3" in text and "data-milvus-minio-3" in text

    core = prod["kube"].core
    core.delete_namespaced_persistent_volume_claim("data-milvus-etcd-2", NS)  # held by pvc-protection
    try:
        code, results = verify(prod, "statefulset-identity")
        assert code == 1
        assert "PVC data-milvus-etcd-2 is being deleted" in evidence(results["statefulset-identity"])
    finally:
        core.delete_namespaced_pod("milvus-etcd-2", NS)  # releases the PVC; the StatefulSet makes a new one
        wait_until(lambda: verify(prod, "statefulset-identity")[0] == 0, 120, "etcd-2 back with a new PVC")


def test_required_anti_affinity_broken_by_a_pod_placed_by_hand(prod: dict) -> None:
    node = pods_of(prod, "querynode")[0].spec.node_name
    with rogue_pod(prod, "querynode", node, "rogue-querynode"):
        code, results = verify(prod, "anti-affinity")
        assert code == 1
        text = evidence(results["anti-affinity"])
        assert f"querynode: required anti-affinity broken on kubernetes.io/hostname={node}" in text
        assert "rogue-querynode" in text
    assert verify(prod, "anti-affinity")[0] == 0


def test_zone_spread_skew_warns_under_schedule_anyway(prod: dict) -> None:
    zone_a = first_node_in_zone(prod, "zone-a")
    with rogue_pod(prod, "proxy", zone_a, "rogue-proxy-1"), rogue_pod(prod, "proxy", zone_a, "rogue-proxy-2"):
        code, results = verify(prod, "zone-spread")
        assert code == 0 and results["zone-spread"]["status"] == "warn"
        assert "proxy over topology.kubernetes.io/zone" in evidence(results["zone-spread"])
        assert "allowed by ScheduleAnyway" in evidence(results["zone-spread"])


def test_zone_spread_skew_fails_under_do_not_schedule(prod: dict) -> None:
    zone_a = first_node_in_zone(prod, "zone-a")
    with rogue_pod(prod, "querynode", zone_a, "rogue-qn-1"), rogue_pod(prod, "querynode", zone_a, "rogue-qn-2"):
        result = runner.invoke(app, ["verify", "--env", ENV, *prod["where"], "--check", "zone-spread", "--set",
                                     "queryNode.topologySpread.whenUnsatisfiable=DoNotSchedule", "--output", "json"])
        assert result.exit_code == 1, result.output
        text = evidence(json.loads(result.stdout)["results"][0])
        assert "querynode over topology.kubernetes.io/zone" in text and "skew" in text
        assert "allowed by ScheduleAnyway" not in text.split("querynode over")[1].splitlines()[0]


def test_hpa_fails_when_deleted_or_changed(prod: dict) -> None:
    kube = prod["kube"]
    kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler("milvus-proxy", NS)
    kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler("milvus-querynode", NS, {"spec": {"maxReplicas": 5}})
    try:
        code, results = verify(prod, "hpa")
        assert code == 1
        text = evidence(results["hpa"])
        assert "HPA milvus-proxy missing" in text
        assert "HPA milvus-querynode: min/max/cpu%/mem% (3, 5, 70, None), env says (3, 20, 70, None)" in text
    finally:
        repair(prod)


def test_pdb_fails_when_deleted(prod: dict) -> None:
    prod["kube"].policy.delete_namespaced_pod_disruption_budget("milvus-querynode", NS)
    try:
        code, results = verify(prod, "pdb")
        assert code == 1 and "PDB milvus-querynode missing" in evidence(results["pdb"])
    finally:
        repair(prod)


def test_service_fails_when_its_selector_misses_the_proxies(prod: dict) -> None:
    prod["kube"].core.patch_namespaced_service("milvus", NS, {"spec": {"selector": {
        "app.kubernetes.io/component": "nothing"}}})
    try:
        def broken() -> bool:
            code, results = verify(prod, "service")
            return code == 1 and "Service milvus: ready proxy pods" in evidence(results["service"])
        wait_until(broken, 60, "the Service's endpoints to drain")
    finally:
        repair(prod)


def test_config_edit_makes_pods_stale(prod: dict) -> None:
    core = prod["kube"].core
    cm = core.read_namespaced_config_map("milvus-config", NS)
    core.patch_namespaced_config_map("milvus-config", NS, {"data": {
        "user.yaml": cm.data["user.yaml"] + "\nquotaAndLimits:\n  enabled: false\n"}})
    try:
        code, results = verify(prod, "config-and-secret")
        assert code == 1
        assert "(stale config)" in evidence(results["config-and-secret"])
        assert "runs config" in evidence(results["config-and-secret"])
    finally:
        repair(prod)


def test_credential_in_a_configmap_is_found(prod: dict) -> None:
    core = prod["kube"].core
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="leaky"), data={
        "app.conf": "endpoint: minio:9000\nkey: verify-secret-value\n"}))
    try:
        code, results = verify(prod, "config-and-secret")
        assert code == 1
        text = evidence(results["config-and-secret"])
        assert "ConfigMap leaky key app.conf contains a credential value" in text
        assert "verify-secret-value" not in json.dumps(results), "the value itself is never printed"
    finally:
        core.delete_namespaced_config_map("leaky", NS)


def test_resources_fail_when_pods_drift_from_the_env(prod: dict) -> None:
    prod["kube"].apps.patch_namespaced_deployment("milvus-datanode", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "datanode", "resources": {"requests": {"cpu": "500m"}}}]}}}})
    try:
        def drifted() -> bool:
            pods = pods_of(prod, "datanode")
            return bool(pods) and all(p.spec.containers[0].resources.requests["cpu"] == "500m" for p in pods)
        wait_until(drifted, 90, "datanode pods with the hand-made requests")
        code, results = verify(prod, "resources")
        assert code == 1 and "env says {cpu=2, memory=4Gi}" in evidence(results["resources"])
        assert "milvus-datanode-" in evidence(results["resources"])
    finally:
        repair(prod)


def test_milvus_fails_without_a_ready_proxy(prod: dict) -> None:
    prod["kube"].apps.patch_namespaced_deployment_scale("milvus-proxy", NS, {"spec": {"replicas": 0}})
    try:
        wait_until(lambda: not pods_of(prod, "proxy"), 60, "proxies gone")
        code, results = verify(prod, "milvus")
        assert code == 1 and "no ready proxy pod in milvus-prod" in evidence(results["milvus"])
    finally:
        repair(prod)


def test_api_calls_per_check_do_not_grow_with_pods(prod: dict) -> None:
    _, before = verify(prod)
    prod["kube"].apps.patch_namespaced_deployment_scale("milvus-datanode", NS, {"spec": {"replicas": 6}})
    try:
        wait_until(lambda: len([p for p in pods_of(prod, "datanode") if p.status.phase == "Running"]) == 6, 90,
                   "6 datanodes")
        _, after = verify(prod)
        for name in before:
            assert after[name]["api_calls"] == before[name]["api_calls"], name
    finally:
        repair(prod)
