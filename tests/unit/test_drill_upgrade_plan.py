"""The upgrade drill's pieces that need no cluster: image tags of pods, the simulated broken-tag policy."""

from __future__ import annotations

import copy

from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local.faults import unpullable_policy
from deploytool.drills.faults import BROKEN_SUFFIX
from deploytool.drills.recorder import image_tag

ORDER = ["mixcoord", "streamingnode", "querynode", "datanode", "proxy"]


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
