"""The pure pieces of `drill upgrade` on real nodes: which tags get a stand-in image, which images a
node lacks, when a broken tag is simulated, and the engine asking the provider to prepare the
target before its first step."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.local import real_values, standin_engine
from deploytool.clusters.local.images import BuiltImage, missing_images, parse_image_list
from deploytool.core.config import Target
from deploytool.core.errors import CommandFailed
from deploytool.deploy.upgrade.apply import ApplyOptions, Upgrade
from deploytool.deploy.upgrade.plan import Plan, Request, Step
from deploytool.drills.model import PodSample
from deploytool.drills.upgrade import release_pods_simulated, serving_tags

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LABELS = "io.cri-containerd.image=managed"
# `ctr images list` as containerd 1.7 prints it (a tab-aligned table; SIZE holds a space)
CTR_LIST = "\n".join([
    "REF    TYPE    DIGEST    SIZE    PLATFORMS    LABELS",
    f"localhost/deploytool/etcd:v3.6.16    {MANIFEST} sha256:{'1' * 64} 9.8 MiB    linux/amd64 {LABELS}",
    f"localhost/deploytool/milvus-standin:v2.6.23 {MANIFEST} sha256:{'2' * 64} 120.3 MiB linux/amd64 {LABELS}",
    f"sha256:{'2' * 64} {MANIFEST} sha256:{'2' * 64} 120.3 MiB linux/amd64 {LABELS}",
]) + "\n"


def image(ref: str, digit: str) -> BuiltImage:
    return BuiltImage(ref, Path("/nonexistent.tar"), "sha256:" + digit * 64)


def test_ctr_image_list_is_read_as_ref_to_digest() -> None:
    found = parse_image_list(CTR_LIST)
    assert found["localhost/deploytool/etcd:v3.6.16"] == "sha256:" + "1" * 64
    assert found["localhost/deploytool/milvus-standin:v2.6.23"] == "sha256:" + "2" * 64
    assert parse_image_list("REF TYPE DIGEST SIZE PLATFORMS LABELS\n") == {}


def test_only_images_a_node_lacks_or_holds_at_another_digest_are_imported() -> None:
    present = parse_image_list(CTR_LIST)
    same = image("localhost/deploytool/milvus-standin:v2.6.23", "2")
    rebuilt = image("localhost/deploytool/etcd:v3.6.16", "9")  # the same tag built again from other files
    new = image("localhost/deploytool/milvus-standin:v2.6.24", "3")
    assert missing_images([same, rebuilt, new], present) == [rebuilt, new]
    assert missing_images([same], present) == []


@pytest.mark.parametrize(("values", "built", "skipped"), [
    ({"image": {"tag": "v2.6.24"}}, ["v2.6.24"], []),
    ({"image": {"tag": "v2.6.24"}, "proxy": {"image": {"tag": "v2.6.23"}}}, ["v2.6.23", "v2.6.24"], []),
    ({"image": {"tag": "v2.6.24-broken"}, "mixCoord": {"image": {"tag": "v2.6.24"}}}, ["v2.6.24"],
     ["v2.6.24-broken"]),
    ({"image": {"tag": "v2.6.99"}}, [], ["v2.6.99"]),
])
def test_stand_ins_are_built_only_for_known_releases(values: dict[str, Any], built: list[str],
                                                     skipped: list[str]) -> None:
    tags, why = real_values.standin_tags(values)
    assert tags == built and sorted(why) == skipped
    assert all(why.values())


def test_an_existing_shared_engine_is_never_changed() -> None:
    calls: list[str] = []

    def exists(kind: str) -> Any:
        def create(namespace: str, body: dict[str, Any]) -> None:
            calls.append(f"create {kind}")
            raise ApiException(status=409)
        return create

    def patch(*args: Any, **kwargs: Any) -> None:
        calls.append("patch")

    kube = SimpleNamespace(
        core=SimpleNamespace(create_namespaced_persistent_volume_claim=exists("pvc"),
                             create_namespaced_service=exists("service")),
        apps=SimpleNamespace(create_namespaced_deployment=exists("deployment"), patch_namespaced_deployment=patch))
    detail = standin_engine.ensure(kube, "milvus-staging", "localhost/deploytool/milvus-standin:v2.6.24")  # type: ignore[arg-type]
    assert calls == ["create pvc", "create service", "create deployment"]
    assert "exists (left as it is)" in detail


@pytest.mark.parametrize(("pod_nodes", "simulated", "expected"), [
    ({"kwok-node-1", "kwok-node-2"}, {"kwok-node-1", "kwok-node-2", "kwok-node-3"}, True),
    ({"real-node-1", "real-node-2"}, set(), False),
    ({"real-node-1"}, {"kwok-node-1"}, False),
    ({"real-node-1", "kwok-node-1"}, {"kwok-node-1"}, True),
    (set(), {"kwok-node-1"}, False),
])
def test_a_broken_tag_is_simulated_only_where_the_release_has_simulated_pods(
        pod_nodes: set[str], simulated: set[str], expected: bool) -> None:
    assert release_pods_simulated(pod_nodes, simulated) is expected


class _Helm:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def upgrade_install(self, release: str, chart: Any, namespace: str, values: dict[str, Any], **kw: Any) -> None:
        self.log.append(("helm upgrade", values["image"]["tag"]))
        raise CommandFailed(["helm", "upgrade"], 1, "stop here")

    def rollback(self, release: str, namespace: str, revision: int, **kw: Any) -> None:
        self.log.append(("helm rollback", revision))


def test_the_engine_has_the_provider_prepare_the_target_before_its_first_step() -> None:
    log: list[tuple[str, Any]] = []
    empty = SimpleNamespace(items=[])
    kube = SimpleNamespace(apps=SimpleNamespace(list_namespaced_deployment=lambda *a, **k: empty,
                                                list_namespaced_stateful_set=lambda *a, **k: empty))
    start = {"image": {"tag": "v2.6.23"}, "mixCoord": {}, "proxy": {}}
    plan = Plan(Request("staging", "v2.6.24"), "upgrade", "patch upgrade", {"mixcoord": "v2.6.23", "proxy": "v2.6.23"},
                steps=[Step(c, [c], {c: "v2.6.23"}, "v2.6.24", "RollingUpdate", "none") for c in ("mixcoord", "proxy")])

    def prepare(namespace: str, values: Any) -> str:
        log.append(("prepare", (namespace, values["image"]["tag"], values["mixCoord"].get("image"),
                                values["proxy"].get("image"))))
        return "1 image(s) imported"

    result = Upgrade(kube, _Helm(log), Target("staging"), plan, start, 7, ApplyOptions(poll_s=0),  # type: ignore[arg-type]
                     lambda name, detail="": None, prepare=prepare).run()
    assert log == [("prepare", ("milvus-staging", "v2.6.24", None, None)), ("helm upgrade", "v2.6.24"),
                   ("helm rollback", 7)]
    assert result.prepared == "1 image(s) imported" and result.failed_step == "mixcoord" and result.rollback_ok


def test_pods_still_terminating_at_the_end_are_not_counted_but_named() -> None:
    def sample(pod: str, component: str, tag: str, terminating: bool = False) -> PodSample:
        return PodSample(9.0, pod, component, "real-node-1", "Running", not terminating, terminating, False, tag)

    final = {"milvus-proxy-new": sample("milvus-proxy-new", "proxy", "v2.6.24"),
             "milvus-proxy-old": sample("milvus-proxy-old", "proxy", "v2.6.23", terminating=True),
             "milvus-etcd-0": sample("milvus-etcd-0", "etcd", "v3.6.16")}
    tags, leaving = serving_tags(final, ["proxy"])
    assert tags == {"milvus-proxy-new": "v2.6.24"} and leaving == ["milvus-proxy-old on v2.6.23"]
