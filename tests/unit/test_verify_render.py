"""Every verify check against each env's real render: a snapshot of a cluster that is exactly what
the render promises passes (or says it has nothing to check), and one drift from it fails.

The healthy snapshot is what the controllers would make of the rendered objects: workloads at
their replica count (an HPA target at its HPA's minimum), pods carrying the pod template, spread
one per node over three zones, Services whose endpoints are their ready pods, Bound PVCs, HPAs
with metrics, PDBs allowing a disruption, the credentials Secret that `up` creates.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from deploytool.deploy.checks.expected import milvus_components, replica_bounds
from deploytool.deploy.checks.registry import CHECKS
from deploytool.deploy.checks.release import rendered_chart
from deploytool.deploy.credentials import ACCESS_KEY, SECRET_KEY
from deploytool.deploy.snapshot import ConfigMap as ConfigMapData
from deploytool.deploy.snapshot import (
    Container,
    ContainerStatus,
    Endpoint,
    EndpointSlice,
    Healthz,
    HelmRevision,
    Hpa,
    MilvusProbe,
    NetworkPolicy,
    Node,
    Pdb,
    Pod,
    Pvc,
    Secret,
    Service,
    ServicePort,
    Snapshot,
    Workload,
    selects,
)
from deploytool.deploy.verify import FAIL, PASS, SKIP, run_check
from deploytool.render.manifests import Rendered

ENVS = ("dev", "staging", "prod")
ZONES = ("zone-a", "zone-b", "zone-c")
NODES = [Node(f"node-{i}", {"kubernetes.io/hostname": f"node-{i}", "topology.kubernetes.io/zone": ZONES[i % 3]},
              {"cpu": "16", "memory": "64Gi"}) for i in range(6)]


def _container(c: dict[str, Any]) -> Container:
    res = c.get("resources") or {}
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env") or []
                  if (e.get("valueFrom") or {}).get("secretKeyRef")}
    return Container(c["name"], c.get("image", ""), {k: str(v) for k, v in (res.get("requests") or {}).items()},
                     {k: str(v) for k, v in (res.get("limits") or {}).items()}, secret_env,
                     copy.deepcopy(c.get("securityContext") or {}))


def _pods(obj: dict[str, Any], replicas: int, ip_base: int) -> list[Pod]:
    template = obj["spec"]["template"]
    spec = template["spec"]
    name = obj["metadata"]["name"]
    pods = []
    for i in range(replicas):
        pod_name = f"{name}-{i}" if obj["kind"] == "StatefulSet" else f"{name}-5d8f9-{i:05d}"
        pods.append(Pod(
            pod_name, obj["metadata"].get("namespace", ""), dict(template["metadata"].get("labels") or {}),
            dict(template["metadata"].get("annotations") or {}), NODES[i % len(NODES)].name, "Running", True, False,
            f"10.244.{ip_base}.{i + 1}", "Burstable", [_container(c) for c in spec["containers"]],
            [_container(c) for c in spec.get("initContainers") or []],
            [ContainerStatus(c["name"]) for c in spec["containers"]],
            [v["configMap"]["name"] for v in spec.get("volumes") or [] if "configMap" in v],
            copy.deepcopy(spec.get("securityContext") or {})))
    return pods


def _workloads(rendered: Rendered, snap: Snapshot) -> None:
    for index, obj in enumerate(rendered.by_kind("Deployment") + rendered.by_kind("StatefulSet")):
        replicas = replica_bounds(rendered, obj)[0]
        spec = obj["spec"]["template"]["spec"]
        workload = Workload(obj["kind"], obj["metadata"]["name"], replicas, replicas, replicas,
                            [_container(c) for c in spec["containers"]],
                            dict(obj["spec"]["template"]["metadata"].get("annotations") or {}))
        (snap.deployments if obj["kind"] == "Deployment" else snap.statefulsets)[workload.name] = workload
        snap.pods += _pods(obj, replicas, index)
        for tpl in obj["spec"].get("volumeClaimTemplates") or []:
            for i in range(replicas):
                pvc = f"{tpl['metadata']['name']}-{workload.name}-{i}"
                snap.pvcs[pvc] = Pvc(pvc)


def _services(rendered: Rendered, snap: Snapshot) -> None:
    for obj in rendered.by_kind("Service"):
        spec, name = obj["spec"], obj["metadata"]["name"]
        snap.services[name] = Service(name, spec.get("type", "ClusterIP"), dict(spec.get("selector") or {}),
                                      [ServicePort(p.get("name", ""), p["port"]) for p in spec.get("ports") or []])
        chosen = [p for p in snap.pods if spec.get("selector") and selects({"matchLabels": spec["selector"]}, p.labels)]
        snap.endpoint_slices.append(EndpointSlice(f"{name}-x1", name, [Endpoint([p.pod_ip], True) for p in chosen]))


def _policies(rendered: Rendered, snap: Snapshot) -> None:
    for obj in rendered.by_kind("HorizontalPodAutoscaler"):
        spec = obj["spec"]
        targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
                   for m in spec.get("metrics") or [] if m["type"] == "Resource"}
        snap.hpas[obj["metadata"]["name"]] = Hpa(
            obj["metadata"]["name"], spec["minReplicas"], spec["maxReplicas"], spec["scaleTargetRef"]["kind"],
            spec["scaleTargetRef"]["name"], targets, {r: 10 for r in targets}, spec["minReplicas"])
    for obj in rendered.by_kind("PodDisruptionBudget"):
        selected = [p for p in snap.pods if selects(obj["spec"]["selector"], p.labels)]
        snap.pdbs[obj["metadata"]["name"]] = Pdb(obj["metadata"]["name"], copy.deepcopy(obj["spec"]["selector"]), 1,
                                                 len(selected), len(selected) - 1)
    for obj in rendered.by_kind("NetworkPolicy"):
        snap.network_policies[obj["metadata"]["name"]] = NetworkPolicy(obj["metadata"]["name"],
                                                                       copy.deepcopy(obj["spec"]))


def healthy_snapshot(rendered: Rendered) -> Snapshot:
    target = rendered.target
    snap = Snapshot(target.namespace, target.release, nodes={n.name: n for n in NODES})
    _workloads(rendered, snap)
    _services(rendered, snap)
    _policies(rendered, snap)
    for obj in rendered.by_kind("ConfigMap"):
        snap.configmaps[obj["metadata"]["name"]] = ConfigMapData(obj["metadata"]["name"], dict(obj.get("data") or {}))
    for obj in rendered.by_kind("Secret"):
        keys = sorted(set(obj.get("data") or {}) | set(obj.get("stringData") or {}))
        snap.secrets[obj["metadata"]["name"]] = Secret(obj["metadata"]["name"], keys)
    snap.secrets.setdefault(target.secret_name, Secret(target.secret_name, [ACCESS_KEY, SECRET_KEY]))
    snap.release_history = [HelmRevision(1, "deployed", rendered_chart(rendered), "v2.6.4")]
    endpoint = next(p.name for p in snap.pods if p.labels.get("app.kubernetes.io/component") in ("proxy", "standalone"))
    snap.milvus = MilvusProbe("", endpoint, "v2.6.4", 1000, 2.0, [
        Healthz(c, p.name, True, "OK", "api-server pod proxy")
        for c in milvus_components(rendered) for p in snap.pods_of(c)])
    return snap


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
def test_a_cluster_as_rendered_passes(env: str, check, render_env) -> None:
    rendered = render_env(env)
    result = run_check(check, rendered, healthy_snapshot(rendered))
    assert result.status in (PASS, SKIP), "\n".join(result.evidence)
    if result.status == SKIP:
        assert result.evidence[0].startswith("nothing to check"), result.evidence


@pytest.mark.parametrize("env", ("staging", "prod"))
def test_staging_and_prod_have_network_policies_and_security_contexts_to_check(env: str, render_env) -> None:
    rendered = render_env(env)
    snap = healthy_snapshot(rendered)
    by_name = {c.name: c for c in CHECKS}
    network = run_check(by_name["network-policies"], rendered, snap)
    assert network.status == PASS and len(rendered.by_kind("NetworkPolicy")) >= 2, network.evidence
    assert "enforcement is the CNI's job" in network.evidence[-1]
    security = run_check(by_name["security-context"], rendered, snap)
    assert security.status == PASS, security.evidence
    assert len(security.evidence) == len(rendered.by_kind("Deployment") + rendered.by_kind("StatefulSet"))


@pytest.mark.parametrize("env", ENVS)
def test_network_and_security_checks_skip_only_when_nothing_is_rendered(env: str, render_env) -> None:
    rendered = render_env(env)
    snap = healthy_snapshot(rendered)
    by_name = {c.name: c for c in CHECKS}
    network = run_check(by_name["network-policies"], rendered, snap)
    assert (network.status == SKIP) == (not rendered.by_kind("NetworkPolicy"))
    security = run_check(by_name["security-context"], rendered, snap)
    has_context = any(o["spec"]["template"]["spec"].get("securityContext")
                      or any(c.get("securityContext") for c in o["spec"]["template"]["spec"]["containers"])
                      for o in rendered.by_kind("Deployment") + rendered.by_kind("StatefulSet"))
    assert (security.status == SKIP) == (not has_context)


def test_one_pod_drifting_from_prod_fails_the_checks_that_cover_it(render_env) -> None:
    rendered = render_env("prod")
    snap = healthy_snapshot(rendered)
    pod = snap.pods_of("querynode")[0]
    pod.annotations["checksum/config"] = "0" * 64
    pod.containers[0].requests["cpu"] = "100m"
    pod.containers[0].security_context["allowPrivilegeEscalation"] = True
    by_name = {c.name: c for c in CHECKS}
    assert run_check(by_name["config-and-secret"], rendered, snap).status == FAIL
    assert run_check(by_name["resources"], rendered, snap).status == FAIL
    security = run_check(by_name["security-context"], rendered, snap)
    rendered_escalation = rendered.get("Deployment", "milvus-querynode")["spec"]["template"]["spec"]["containers"][0] \
        .get("securityContext", {}).get("allowPrivilegeEscalation")
    assert (security.status == FAIL) == (rendered_escalation is False), security.evidence
