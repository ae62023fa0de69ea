"""The rendered objects per environment, asserted on the objects themselves."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from deploytool.render.components import CLUSTER_COMPONENTS
from deploytool.render.versions import DEFAULT_TAG

CLUSTER = [name for _, name in CLUSTER_COMPONENTS]


def workload(r, name):
    for kind in ("Deployment", "StatefulSet"):
        for obj in r.by_kind(kind):
            if obj["metadata"]["name"] == f"milvus-{name}":
                return obj
    raise AssertionError(f"no workload milvus-{name}; have {[o['metadata']['name'] for o in r.objects]}")


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def milvus_container(obj):
    return pod_spec(obj)["containers"][0]


def test_dev_is_one_standalone_statefulset_with_storage(render_env) -> None:
    r = render_env("dev")
    assert r.by_kind("Deployment") == []
    sts = workload(r, "standalone")
    assert sts["kind"] == "StatefulSet"
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["volumeClaimTemplates"], "standalone keeps its data on a PVC"
    assert milvus_container(sts)["args"] == ["milvus", "run", "standalone"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_cluster_components_are_deployments_and_deps_statefulsets(render_env, env) -> None:
    r = render_env(env)
    for name in CLUSTER:
        assert workload(r, name)["kind"] == "Deployment", name
    for dep in ("etcd", "minio"):
        sts = workload(r, dep)
        assert sts["kind"] == "StatefulSet"
        assert sts["spec"]["volumeClaimTemplates"]
        headless = r.get("Service", sts["spec"]["serviceName"])
        assert headless["spec"]["clusterIP"] == "None"


def test_prod_anti_affinity_is_required_on_hostname(render_env) -> None:
    r = render_env("prod")
    for name in ("proxy", "querynode"):
        aff = pod_spec(workload(r, name))["affinity"]["podAntiAffinity"]
        terms = aff["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
        assert terms[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == name


def test_staging_anti_affinity_is_preferred(render_env) -> None:
    aff = pod_spec(workload(render_env("staging"), "querynode"))["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in aff
    assert aff["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] >= 1


def test_dev_has_no_anti_affinity(render_env) -> None:
    assert "podAntiAffinity" not in (pod_spec(workload(render_env("dev"), "standalone")).get("affinity") or {})


def test_prod_hpas(render_env) -> None:
    hpas = {h["metadata"]["name"]: h for h in render_env("prod").by_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == {"milvus-proxy", "milvus-querynode"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        spec = hpa["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        cpu = [m for m in spec["metrics"] if m["resource"]["name"] == "cpu"]
        assert cpu[0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_dev_has_no_hpa_or_pdb(render_env) -> None:
    r = render_env("dev")
    assert r.by_kind("HorizontalPodAutoscaler") == [] and r.by_kind("PodDisruptionBudget") == []


def test_prod_pdbs_select_their_component(render_env) -> None:
    r = render_env("prod")
    pdbs = {p["metadata"]["name"]: p for p in r.by_kind("PodDisruptionBudget")}
    assert {f"milvus-{n}" for n in ("proxy", "querynode")} <= set(pdbs)
    for name, pdb in pdbs.items():
        component = name.removeprefix("milvus-")
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == component
        pod_labels = workload(r, component)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()


def test_prod_rolling_update_and_querynode_resources(render_env) -> None:
    r = render_env("prod")
    for name in CLUSTER:
        strategy = workload(r, name)["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    res = milvus_container(workload(r, "querynode"))["resources"]
    assert res == {"requests": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "10Gi"},
                   "limits": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"}}
    assert workload(r, "etcd")["spec"]["replicas"] == 3


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_container_has_requests_limits_and_probes(render_env, env) -> None:
    r = render_env(env)
    for obj in r.by_kind("Deployment") + r.by_kind("StatefulSet"):
        for c in pod_spec(obj)["containers"]:
            assert c["resources"]["requests"] and c["resources"]["limits"], obj["metadata"]["name"]
            assert c["readinessProbe"], obj["metadata"]["name"]
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] not in ("etcd", "minio"):
            c = milvus_container(obj)
            assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert c["livenessProbe"] and c["startupProbe"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_configmap_holds_user_yaml_and_no_credentials(render_env, env) -> None:
    r = render_env(env)
    cm = r.get("ConfigMap", "milvus-config")
    assert list(cm["data"]) == (["user.yaml", "embedEtcd.yaml"] if env == "dev" else ["user.yaml"])
    user = yaml.safe_load(cm["data"]["user.yaml"])
    text = json.dumps(user).lower()
    assert "minioadmin" not in text
    assert not re.search(r"(secret|password|accesskeyid)", text), "credentials never go into the ConfigMap"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_credentials_only_by_secret_reference(render_env, env) -> None:
    r = render_env(env)
    assert r.by_kind("Secret") == [], "deploytool creates the Secret out of band; the render holds none"
    for obj in r.by_kind("Deployment") + r.by_kind("StatefulSet"):
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if component == "etcd":
            continue
        env_vars = {e["name"]: e for e in milvus_container(obj).get("env", [])}
        keys = ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD") if component == "minio" else (
            "MINIO_ACCESS_KEY_ID", "MINIO_SECRET_ACCESS_KEY")
        for key in keys:
            assert "value" not in env_vars[key], f"{component}: {key} must not be a literal"
            assert env_vars[key]["valueFrom"]["secretKeyRef"]["name"] == "milvus-credentials"


CREDENTIAL_KEY = re.compile(r"(access.?key|secret.?key|password|MINIO_ROOT_USER|MINIO_ACCESS_KEY_ID)", re.I)


def _literal_credentials(node, path="") -> list[str]:
    """Every place a credential-named key or env var carries a literal value."""
    found = []
    if isinstance(node, dict):
        if "name" in node and "value" in node and CREDENTIAL_KEY.search(str(node["name"])):
            found.append(f"{path}: env {node['name']} has a literal value")
        for key, value in node.items():
            names_a_key = str(key).endswith("KeyKey")  # accessKeyKey: the Secret's key name, not a credential
            if CREDENTIAL_KEY.search(str(key)) and not names_a_key and isinstance(value, str | int) and value != "":
                found.append(f"{path}.{key}")
            found += _literal_credentials(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _literal_credentials(item, f"{path}[{i}]")
    elif isinstance(node, str) and "\n" in node:  # embedded files such as user.yaml
        try:
            found += _literal_credentials(yaml.safe_load(node), path + "<embedded>")
        except yaml.YAMLError:
            pass
    return found


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_no_credential_values_anywhere(render_env, env) -> None:
    rendered = render_env(env)
    assert _literal_credentials(rendered.objects) == []
    assert _literal_credentials(rendered.values) == [], "merged values (written to manifests/) hold none"


def test_the_credential_scan_finds_a_planted_credential() -> None:
    planted = [{"env": [{"name": "MINIO_SECRET_ACCESS_KEY", "value": "hunter2"}]},
               {"data": {"user.yaml": "minio:\n  secretAccessKey: hunter2\n"}}]
    assert len(_literal_credentials(planted)) == 2


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_config_checksum_and_labels(render_env, env) -> None:
    r = render_env(env)
    for obj in r.by_kind("Deployment") + r.by_kind("StatefulSet"):
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"):
            assert key in labels, (obj["metadata"]["name"], key)
        if labels["app.kubernetes.io/component"] not in ("etcd", "minio"):
            annotations = obj["spec"]["template"]["metadata"]["annotations"]
            assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])


def test_config_change_changes_checksum(render_env) -> None:
    from deploytool.render import manifests
    from deploytool.render.values import Layers

    base = workload(render_env("staging"), "proxy")["spec"]["template"]["metadata"]["annotations"]
    changed = manifests.render(Layers("staging", sets=["config.proxy.maxNameLength=300"]))
    other = workload(changed, "proxy")["spec"]["template"]["metadata"]["annotations"]
    assert base["checksum/config"] != other["checksum/config"]


def test_service_is_stable_endpoint_for_proxy(render_env) -> None:
    svc = render_env("prod").get("Service", "milvus")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "proxy"
    assert {p["port"] for p in svc["spec"]["ports"]} == {19530, 9091}


def test_image_is_pinned_to_the_default_tag(render_env) -> None:
    image = milvus_container(workload(render_env("prod"), "proxy"))["image"]
    assert image == f"milvusdb/milvus:{DEFAULT_TAG}"


def test_proxy_has_prestop(render_env) -> None:
    assert milvus_container(workload(render_env("prod"), "proxy"))["lifecycle"]["preStop"]


def test_component_image_tag_overrides_the_global_one_for_that_component_only() -> None:
    from deploytool.render import manifests
    from deploytool.render.values import Layers

    r = manifests.render(Layers("prod", sets=["queryNode.image.tag=v2.6.20"]))
    qn, proxy = workload(r, "querynode"), workload(r, "proxy")
    assert milvus_container(qn)["image"] == "milvusdb/milvus:v2.6.20"
    assert qn["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v2.6.20"
    assert milvus_container(proxy)["image"] == f"milvusdb/milvus:{DEFAULT_TAG}"


def test_milvus_upgrade_does_not_touch_etcd_or_minio_pods(render_env) -> None:
    from deploytool.render import manifests
    from deploytool.render.values import Layers

    upgraded = manifests.render(Layers("prod", sets=["image.tag=v3.0.2"]))
    for dep in ("etcd", "minio"):
        assert workload(upgraded, dep)["spec"]["template"] == workload(render_env("prod"), dep)["spec"]["template"]


def test_pdbs_let_unhealthy_pods_be_evicted(render_env) -> None:
    for pdb in render_env("prod").by_kind("PodDisruptionBudget"):
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_standalone_can_use_the_charts_etcd_and_minio() -> None:
    from deploytool.render import manifests
    from deploytool.render.values import Layers

    r = manifests.render(Layers("dev", sets=["standalone.dependencies=chart"]))
    assert {o["metadata"]["name"] for o in r.by_kind("StatefulSet")} == {
        "milvus-standalone", "milvus-etcd", "milvus-minio"}
    user = yaml.safe_load(r.get("ConfigMap", "milvus-config")["data"]["user.yaml"])
    assert user["etcd"]["endpoints"] == ["milvus-etcd-0.milvus-etcd-headless.milvus-dev.svc.cluster.local:2379"]
    assert "use" not in user["etcd"]
    assert user["common"]["storageType"] == "remote" and user["minio"]["address"] == "milvus-minio"
    env = {e["name"]: e for e in milvus_container(workload(r, "standalone"))["env"]}
    assert "optional" not in env["MINIO_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"], "remote storage needs it"


def test_standalone_embedded_by_default(render_env) -> None:
    user = yaml.safe_load(render_env("dev").get("ConfigMap", "milvus-config")["data"]["user.yaml"])
    assert user["etcd"]["use"]["embed"] is True and user["common"]["storageType"] == "local"
