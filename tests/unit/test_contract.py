"""Milvus's runtime contract, asserted on the rendered objects of every environment (and prod on 3.0).

Each fact F<n> is a row of the table in docs/milvus-contract.md, with its public source; the table and
FACTS below must name the same facts (test_doc_and_test_name_the_same_facts).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploytool.render import manifests
from deploytool.render.contract_rules import (
    LIVENESS_PATH,
    MINIO_CONDITIONAL_WRITES,
    PRESTOP_SECONDS,
    READINESS_PATH,
    minio_release,
    stop_bound,
)
from deploytool.render.manifests import Rendered
from deploytool.render.values import Layers
from deploytool.render.versions import DEFAULT_TAG, LATEST_PATCHES, is_3x, support_problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "milvus-contract.md"
V3_TAG = str(LATEST_PATCHES[(3, 0)])
CASES = {"dev": ("dev", []), "staging": ("staging", []), "prod": ("prod", []),
         "prod-3.0": ("prod", [f"image.tag={V3_TAG}"])}
ROLES = {"proxy", "mixcoord", "querynode", "datanode", "streamingnode", "standalone"}
_cache: dict[str, Rendered] = {}


def rendered(case: str) -> Rendered:
    if case not in _cache:
        env, sets = CASES[case]
        _cache[case] = manifests.render(Layers(env, sets=sets))
    return _cache[case]


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


def milvus_workloads(r: Rendered) -> list[dict[str, Any]]:
    out = [o for o in r.objects if o["kind"] in ("Deployment", "StatefulSet") and component(o) in ROLES]
    assert out, "no Milvus workload rendered"
    return out


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"]["containers"][0])


def workload(r: Rendered, name: str) -> dict[str, Any]:
    return next(o for o in milvus_workloads(r) if component(o) == name)


def user_yaml(r: Rendered) -> dict[str, Any]:
    return dict(yaml.safe_load(r.get("ConfigMap", "milvus-config")["data"]["user.yaml"]))


def tag_of(obj: dict[str, Any]) -> str:
    return str(container(obj)["image"]).rsplit(":", 1)[1]


def remote(r: Rendered) -> bool:
    return "use" not in user_yaml(r)["etcd"]


# -- the facts -------------------------------------------------------------------------------------

def f1_command(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        assert container(obj)["args"] == ["milvus", "run", component(obj)]
        assert "command" not in container(obj), "the image's entrypoint runs `milvus run <role>`"


def f2_ports(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        ports = {p["name"]: p["containerPort"] for p in container(obj)["ports"]}
        expected = {"metrics": 9091} | ({"milvus": 19530} if component(obj) in ("proxy", "standalone") else {})
        assert ports == expected, component(obj)
    svc = r.get("Service", "milvus")["spec"]
    assert {p["name"]: p["targetPort"] for p in svc["ports"]} == {"milvus": "milvus", "metrics": "metrics"}
    assert svc["selector"]["app.kubernetes.io/component"] in ("proxy", "standalone")


def f3_config_path(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        mounts = {m["mountPath"]: m for m in container(obj)["volumeMounts"]}
        assert mounts["/milvus/configs/user.yaml"] == {"name": "config", "mountPath": "/milvus/configs/user.yaml",
                                                       "subPath": "user.yaml", "readOnly": True}
        volumes = {v["name"]: v for v in obj["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == "milvus-config"
        # a config change rolls the pods (and verify reads the same checksum to find a stale config)
        text = r.get("ConfigMap", "milvus-config")["data"]["user.yaml"]
        annotations = obj["spec"]["template"]["metadata"]["annotations"]
        assert annotations["checksum/config"] == hashlib.sha256(text.rstrip("\n").encode()).hexdigest()


def f4_env_names(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        env = {e["name"]: e for e in container(obj)["env"]}
        for name, key in (("MINIO_ACCESS_KEY_ID", "access-key"), ("MINIO_SECRET_ACCESS_KEY", "secret-key")):
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "milvus-credentials" and ref["key"] == key and "value" not in env[name]
            assert ref.get("optional", False) is (not remote(r)), "remote storage cannot start without the keys"
    text = yaml.safe_dump(user_yaml(r)).lower()
    assert "accesskeyid" not in text and "secretaccesskey" not in text


def f5_readiness(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        probe = container(obj)["readinessProbe"]
        assert probe["httpGet"] == {"path": READINESS_PATH, "port": "metrics"}


def f6_liveness(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        probe = container(obj)["livenessProbe"]
        assert probe["httpGet"] == {"path": LIVENESS_PATH, "port": "metrics"}, "never the deep /healthz"


def f7_startup(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        probe = container(obj)["startupProbe"]
        assert probe["tcpSocket"] == {"port": "metrics"}
        assert (probe["periodSeconds"], probe["failureThreshold"]) == (10, 18)


def f8_grace(r: Rendered) -> None:
    user = user_yaml(r)
    stop = {"common": user["common"]["gracefulStopTimeout"], "proxy": user["proxy"]["gracefulStopTimeout"],
            "coordinators": user["rootCoord"]["gracefulStopTimeout"],
            "queryNode": user["queryNode"]["gracefulStopTimeout"], "dataNode": user["dataNode"]["gracefulStopTimeout"]}
    assert user["queryCoord"]["gracefulStopTimeout"] == user["dataCoord"]["gracefulStopTimeout"] == stop["coordinators"]
    assert stop == {"common": 1800, "proxy": 30, "coordinators": 5, "queryNode": 1800, "dataNode": 1800}
    for obj in milvus_workloads(r):
        name = component(obj)
        grace = obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= stop_bound(name, stop) + PRESTOP_SECONDS.get(name, 0), name


def f9_prestop(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        name = component(obj)
        if name in PRESTOP_SECONDS:
            hook = container(obj)["lifecycle"]["preStop"]
            assert hook == {"exec": {"command": ["sleep", str(PRESTOP_SECONDS[name])]}}
        else:
            assert "lifecycle" not in container(obj), name


def f10_mixcoord(r: Rendered) -> None:
    user = user_yaml(r)
    flags = {user[k]["enableActiveStandby"] for k in ("rootCoord", "queryCoord", "dataCoord", "indexCoord")}
    assert len(flags) == 1, "every coordinator agrees"
    if "mixcoord" not in {component(o) for o in milvus_workloads(r)}:
        assert flags == {False}
        return
    mix = workload(r, "mixcoord")
    standby = flags.pop()
    if standby:
        assert mix["spec"]["strategy"] == {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    else:
        assert mix["spec"]["strategy"] == {"type": "Recreate"}
        assert mix["spec"].get("replicas") == 1, "one mixcoord without active-standby"


def f11_rolling(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        if obj["kind"] == "Deployment" and component(obj) != "mixcoord":
            assert obj["spec"]["strategy"] == {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, component(obj)
        elif obj["kind"] == "StatefulSet":
            assert obj["spec"]["updateStrategy"] == {"type": "RollingUpdate"}


def f12_etcd_endpoints(r: Rendered) -> None:
    etcd = user_yaml(r)["etcd"]
    if not remote(r):
        assert etcd["use"]["embed"] is True and "endpoints" not in etcd
        return
    sts = r.get("StatefulSet", "milvus-etcd")
    ns = sts["metadata"]["namespace"]
    assert etcd["endpoints"] == [f"milvus-etcd-{i}.milvus-etcd-headless.{ns}.svc.cluster.local:2379"
                                 for i in range(sts["spec"]["replicas"])]
    assert r.get("Service", "milvus-etcd-headless")["spec"]["clusterIP"] == "None"


def f13_etcd_image(r: Rendered) -> None:
    if remote(r):
        etcd = r.get("StatefulSet", "milvus-etcd")
        assert container(etcd)["image"] == "milvusdb/etcd:3.5.25-r1"
        args = container(etcd)["args"]
        for flag in ("--auto-compaction-mode=revision", "--auto-compaction-retention=1000",
                     "--quota-backend-bytes=4294967296", "--heartbeat-interval=500", "--election-timeout=2500"):
            assert flag in args


def f14_minio_conditional_writes(r: Rendered) -> None:
    if remote(r):
        image = container(r.get("StatefulSet", "milvus-minio"))["image"]
        assert image.startswith("minio/minio:")
        have, need = minio_release(image.split(":", 1)[1]), minio_release(MINIO_CONDITIONAL_WRITES)
        assert have is not None and need is not None and have >= need


def f15_mq(r: Rendered) -> None:
    user = user_yaml(r)
    assert user["mq"]["type"] == "woodpecker", "explicit: Milvus's `default` prefers rocksmq/pulsar/kafka"
    assert user["woodpecker"]["storage"]["type"] == ("minio" if remote(r) else "local")


def f16_embedded_etcd(r: Rendered) -> None:
    if remote(r):
        return
    cm = r.get("ConfigMap", "milvus-config")["data"]
    etcd = user_yaml(r)["etcd"]
    assert etcd["config"]["path"] == "/milvus/configs/embedEtcd.yaml" and etcd["data"]["dir"] == "/var/lib/milvus/etcd"
    assert yaml.safe_load(cm["embedEtcd.yaml"]) == {
        "listen-client-urls": "http://0.0.0.0:2379", "advertise-client-urls": "http://0.0.0.0:2379",
        "quota-backend-bytes": 4294967296, "auto-compaction-mode": "revision", "auto-compaction-retention": "1000"}
    mounts = {m["mountPath"]: m for m in container(workload(r, "standalone"))["volumeMounts"]}
    assert mounts["/milvus/configs/embedEtcd.yaml"]["subPath"] == "embedEtcd.yaml"
    annotations = workload(r, "standalone")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/embed-etcd"] == hashlib.sha256(cm["embedEtcd.yaml"].rstrip("\n").encode()).hexdigest()
    assert mounts["/var/lib/milvus"]["name"] == "data", "etcd, data and WAL live on the PVC"


def f17_etcd_auth(r: Rendered) -> None:
    assert user_yaml(r)["etcd"]["auth"] == {"enabled": False}


def f18_security_context(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        sc = obj["spec"]["template"]["spec"]["securityContext"]
        assert sc["fsGroup"] == 999
        if is_3x(tag_of(obj)):
            assert (sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"]) == (999, 999, True)
        else:
            assert "runAsNonRoot" not in sc and "runAsUser" not in sc, "Milvus 2.6 images run as root"


def f19_versions(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        assert support_problem(tag_of(obj)) is None
        assert obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == tag_of(obj)
    assert {tag_of(o) for o in milvus_workloads(r)} <= {DEFAULT_TAG, V3_TAG}


def f20_prod_object_storage(r: Rendered) -> None:
    minio = r.get("StatefulSet", "milvus-minio") if remote(r) else None
    if minio is None or minio["metadata"]["namespace"] != "milvus-prod":
        return
    assert minio["spec"]["replicas"] == 4 and minio["spec"]["podManagementPolicy"] == "Parallel"
    assert container(minio)["args"][1] == "http://milvus-minio-{0...3}.milvus-minio-headless.milvus-prod.svc.cluster.local/data"
    assert minio["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert r.get("PodDisruptionBudget", "milvus-minio")["spec"]["maxUnavailable"] == 1


def f21_no_service_links(r: Rendered) -> None:
    for obj in milvus_workloads(r):
        assert obj["spec"]["template"]["spec"]["enableServiceLinks"] is False, obj["metadata"]["name"]


FACTS: dict[str, Callable[[Rendered], None]] = {
    "F1": f1_command, "F2": f2_ports, "F3": f3_config_path, "F4": f4_env_names, "F5": f5_readiness,
    "F6": f6_liveness, "F7": f7_startup, "F8": f8_grace, "F9": f9_prestop, "F10": f10_mixcoord,
    "F11": f11_rolling, "F12": f12_etcd_endpoints, "F13": f13_etcd_image, "F14": f14_minio_conditional_writes,
    "F15": f15_mq, "F16": f16_embedded_etcd, "F17": f17_etcd_auth, "F18": f18_security_context,
    "F19": f19_versions, "F20": f20_prod_object_storage, "F21": f21_no_service_links,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fact", sorted(FACTS, key=lambda f: int(f[1:])))
def test_fact_holds_on_rendered_objects(fact: str, case: str) -> None:
    FACTS[fact](rendered(case))


def test_doc_and_test_name_the_same_facts() -> None:
    rows = re.findall(r"^\| (F\d+) \|[^|]+\|([^|]+)\|", DOC.read_text(), re.M)
    assert {fact for fact, _ in rows} == set(FACTS)
    for fact, source in rows:
        assert source.strip(), f"{fact} names no source"


def test_prod_on_3_0_renders_3_0_pods() -> None:
    assert {tag_of(o) for o in milvus_workloads(rendered("prod-3.0"))} == {V3_TAG}
    assert {tag_of(o) for o in milvus_workloads(rendered("prod"))} == {DEFAULT_TAG}


def test_staging_mixcoord_is_recreated_and_prod_rolls_a_standby() -> None:
    assert workload(rendered("staging"), "mixcoord")["spec"]["strategy"] == {"type": "Recreate"}
    assert user_yaml(rendered("prod"))["rootCoord"]["enableActiveStandby"] is True
