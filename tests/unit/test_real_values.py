"""The values overlay for real nodes: built images never pulled, resources scaled with ratios kept."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from deploytool.clusters.local import real_values, standin_engine, storage
from deploytool.clusters.local.kubelet import Share
from deploytool.core import quantity
from deploytool.render import manifests
from deploytool.render.values import Layers, deep_merge

GIB = 1 << 30


def _render(env: str, share: Share, nodes: int) -> tuple[real_values.Fit, manifests.Rendered]:
    values = Layers(env).merged()
    fit = real_values.fit(values, nodes, share)
    overlay = deep_merge(real_values.image_overlay(), real_values.resources_overlay(values, fit))
    return fit, manifests.render(Layers(env, overlay=overlay))


def _containers(rendered: manifests.Rendered) -> list[dict]:
    return [c for o in rendered.objects if o["kind"] in ("Deployment", "StatefulSet")
            for c in o["spec"]["template"]["spec"]["containers"]]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_every_image_is_built_here_and_never_pulled(env: str) -> None:
    _, rendered = _render(env, Share(2000, 24 * GIB), 3)
    containers = _containers(rendered)
    assert containers
    for c in containers:
        assert c["image"].startswith("localhost/deploytool/"), c["image"]
        assert c["imagePullPolicy"] == "Never"
    milvus = [c["image"] for c in containers if "milvus-standin" in c["image"]]
    assert milvus and all(i.endswith(":" + Layers(env).merged()["image"]["tag"]) for i in milvus)


def test_milvus_tags_include_each_components_own() -> None:
    values = Layers("prod", sets=["queryNode.image.tag=v2.6.20"]).merged()
    assert real_values.milvus_tags(values) == sorted({values["image"]["tag"], "v2.6.20"})


def test_dev_fits_one_node_unscaled() -> None:
    fit, rendered = _render("dev", Share(2000, 24 * GIB), 1)
    assert not fit.scaled
    assert rendered.objects == manifests.render(Layers("dev", overlay=real_values.image_overlay())).objects


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
def test_staging_scaled_fits_whatever_node_the_scheduler_picks(nodes: int) -> None:
    share = Share(2000 // nodes, 24 * GIB // nodes)
    values = Layers("staging", sets=["etcd.replicas=3"]).merged()
    fit = real_values.fit(values, nodes, share)
    assert fit.cpu < 1
    rendered = manifests.render(Layers("staging", sets=["etcd.replicas=3"], overlay=deep_merge(
        real_values.image_overlay(), real_values.resources_overlay(values, fit))))
    hpa_min = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["minReplicas"]
               for h in rendered.by_kind("HorizontalPodAutoscaler")}
    for resource, capacity in (("cpu", Decimal(share.cpu_millis) / 1000), ("memory", Decimal(share.memory_bytes))):
        pods = []
        for obj in rendered.objects:
            if obj["kind"] in ("Deployment", "StatefulSet"):
                request = sum(quantity.parse(c["resources"]["requests"][resource])
                              for c in obj["spec"]["template"]["spec"]["containers"])
                pods += [request] * max(obj["spec"].get("replicas", 1), hpa_min.get(obj["metadata"]["name"], 0))
        engine = quantity.parse(standin_engine.REQUESTS[resource])
        # any greedy placement fits, and one more pod of the largest size surges on top
        assert sum(pods) + engine + (nodes + 1) * max(pods) <= nodes * capacity, resource
    # ratios kept: querynode's request to limit, as in the env
    qn = values["queryNode"]["resources"]
    scaled = real_values.resources_overlay(values, fit)["queryNode"]["resources"]
    ratio = quantity.parse(qn["limits"]["cpu"]) / quantity.parse(qn["requests"]["cpu"])
    scaled_ratio = quantity.parse(scaled["limits"]["cpu"]) / quantity.parse(scaled["requests"]["cpu"])
    assert abs(scaled_ratio - ratio) < Decimal("0.02")


def test_hostpath_folder_is_writable_by_non_root_pods(tmp_path: Path) -> None:
    created = []

    class Core:
        def create_persistent_volume(self, body: dict) -> None:
            created.append(body)

    pvc = SimpleNamespace(
        metadata=SimpleNamespace(namespace="ns", name="data-etcd-0", uid="0123456789abcdef"),
        spec=SimpleNamespace(resources=None, access_modes=None, volume_mode=None, storage_class_name=None))
    assert storage.provision(Core(), pvc, str(tmp_path))  # type: ignore[arg-type]
    folder = Path(created[0]["spec"]["hostPath"]["path"])
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o777
