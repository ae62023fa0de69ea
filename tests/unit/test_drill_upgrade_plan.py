"""The upgrade drill's step plan (values per step) and the drill CLI's bad-input exits."""

from __future__ import annotations

import copy

from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local.faults import unpullable_policy
from deploytool.drills.faults import BROKEN_SUFFIX
from deploytool.drills.recorder import image_tag
from deploytool.drills.upgrade import component_tag, plan_steps
from deploytool.render import manifests
from deploytool.render.values import Layers
from deploytool.render.versions import DEFAULT_TAG

ORDER = ["mixcoord", "streamingnode", "querynode", "datanode", "proxy"]
FROM, TO = "v2.6.20", DEFAULT_TAG  # a patch upgrade between two supported 2.6 tags


def rendered_tags(values: dict) -> dict[str, str]:
    """component -> image tag of its workload, rendered by the real chart with these values."""
    layers = Layers("prod", overlay=values)
    out = {}
    for obj in manifests.render(layers).objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
            out[obj["metadata"]["labels"]["app.kubernetes.io/component"]] = image.rsplit(":", 1)[1]
    return out


def test_dependency_order_moves_one_component_per_step() -> None:
    start = Layers("prod", sets=[f"image.tag={FROM}"]).merged()
    steps = plan_steps(ORDER, start, TO, "dependency")
    assert [label for label, _ in steps] == ORDER
    for i, (_, values) in enumerate(steps):
        tags = rendered_tags(values)
        done = set(ORDER[: i + 1])
        assert {c for c in ORDER if tags[c] == TO} == done, f"step {i + 1}"
        assert {c for c in ORDER if tags[c] == FROM} == set(ORDER) - done
        assert tags["etcd"] != TO and tags["minio"] != TO, "etcd/MinIO keep their own images"


def test_last_step_equals_a_plain_upgrade() -> None:
    start = Layers("prod", sets=[f"image.tag={FROM}"]).merged()
    _, last = plan_steps(ORDER, start, TO, "dependency")[-1]
    plain = copy.deepcopy(start)
    plain["image"]["tag"] = TO
    assert manifests.render(Layers("prod", overlay=last)).objects == manifests.render(
        Layers("prod", overlay=plain)).objects


def test_helm_order_is_one_step_without_pins() -> None:
    start = Layers("prod", sets=[f"image.tag={FROM}"]).merged()
    steps = plan_steps(ORDER, start, TO, "helm")
    assert [label for label, _ in steps] == ["all components at once (helm)"]
    assert set(rendered_tags(steps[0][1])[c] for c in ORDER) == {TO}


def test_component_tag_prefers_the_component_override() -> None:
    values = {"image": {"tag": "v1"}, "proxy": {"image": {"tag": "v0"}}, "queryNode": {}}
    assert component_tag(values, "proxy") == "v0" and component_tag(values, "querynode") == "v1"


def test_image_tag_parsing() -> None:
    assert image_tag("milvusdb/milvus:v2.6.24") == "v2.6.24"
    assert image_tag("registry:5000/milvusdb/milvus:v3.0.2-broken") == "v3.0.2-broken"
    assert image_tag("registry:5000/milvus") == "latest"


def test_broken_image_policy_is_scoped_to_the_namespace() -> None:
    policy, binding = unpullable_policy("milvus-prod", BROKEN_SUFFIX)
    assert BROKEN_SUFFIX in policy["spec"]["validations"][0]["expression"]
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "milvus-prod"}
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert copy.deepcopy(policy) == policy  # plain data, safe to send as is


runner = CliRunner()


def test_drill_unknown_env_exits_2_before_touching_a_cluster() -> None:
    for args in (["upgrade", "--to", "v3.0.2"], ["node-failure"], ["autoscale"]):
        result = runner.invoke(app, ["drill", *args, "--env", "nope", "--provider", "local", "--context", "absent"])
        assert result.exit_code == 2, result.output
        assert "unknown env 'nope'" in result.output
        assert "Traceback" not in result.output


def test_drill_missing_cluster_exits_2() -> None:
    result = runner.invoke(app, ["drill", "autoscale", "--env", "prod", "--provider", "local",
                                 "--context", "no-such-cluster-here"])
    assert result.exit_code == 2
    assert "no-such-cluster-here" in result.output


def test_drill_help_has_examples() -> None:
    for name in ("upgrade", "node-failure", "autoscale"):
        result = runner.invoke(app, ["drill", name, "--help"])
        assert result.exit_code == 0 and "Examples" in result.output
