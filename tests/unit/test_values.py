from __future__ import annotations

from pathlib import Path

import pytest

from deploytool.core.errors import BadInput
from deploytool.render.values import Layers, deep_merge, parse_set


def test_deep_merge_merges_maps_and_replaces_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base["a"]["c"] == [1, 2], "inputs are not mutated"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("queryNode.replicas=3", {"queryNode": {"replicas": 3}}),
        ("image.tag=v2.6.20", {"image": {"tag": "v2.6.20"}}),
        ("proxy.pdb.enabled=false", {"proxy": {"pdb": {"enabled": False}}}),
        ("a.b=", {"a": {"b": ""}}),
        ("nodeSelector={disk: ssd}", {"nodeSelector": {"disk": "ssd"}}),
    ],
)
def test_parse_set(expr: str, expected: dict) -> None:
    assert parse_set(expr) == expected


@pytest.mark.parametrize("expr", ["noequals", "=3", "a..b=1"])
def test_parse_set_rejects_malformed(expr: str) -> None:
    with pytest.raises(BadInput):
        parse_set(expr)


def test_layer_order_chart_env_files_sets(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("queryNode:\n  replicas: 7\nproxy:\n  replicas: 4\n")
    values = Layers("prod", files=[extra], sets=["queryNode.replicas=9"]).merged()
    assert values["queryNode"]["replicas"] == 9  # --set beats -f
    assert values["proxy"]["replicas"] == 4  # -f beats values/prod.yaml
    assert values["mode"] == "cluster"  # values/prod.yaml beats chart defaults
    assert "repository" in values["image"]  # chart defaults still present


def test_bad_yaml_and_missing_file_are_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [unclosed\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        Layers("dev", files=[broken]).merged()
    with pytest.raises(BadInput, match="not found"):
        Layers("dev", files=[tmp_path / "nope.yaml"]).merged()
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- just\n- a list\n")
    with pytest.raises(BadInput, match="mapping"):
        Layers("dev", files=[scalar]).merged()


def test_layering_over_an_alias_changes_only_the_path_it_names(tmp_path: Path) -> None:
    extra = tmp_path / "aliased.yaml"
    extra.write_text("config:\n  one: &shared {level: info, keep: 1}\n  two: *shared\n")
    layers = Layers("dev", files=[extra], sets=["config.two.level=debug"], overlay={"config": {"three": {"x": 1}}})
    merged = layers.merged()
    assert merged["config"]["one"] == {"level": "info", "keep": 1}
    assert merged["config"]["two"] == {"level": "debug", "keep": 1}
    merged["config"]["three"]["x"] = 2
    assert layers.overlay == {"config": {"three": {"x": 1}}}, "the overlay is copied, not shared"
    assert Layers("dev", files=[extra]).merged() == Layers("dev", files=[extra]).merged()
