"""The CLI through typer's CliRunner: exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from deploytool.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_commands_and_examples() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("render", "validate", "version"):
        assert command in result.output
    assert "Examples" in invoke("render", "--help").output


def test_render_writes_manifests(tmp_path: Path) -> None:
    result = invoke("render", "--env", "prod", "--out", str(tmp_path / "prod"))
    assert result.exit_code == 0, result.output
    files = {p.name for p in (tmp_path / "prod").iterdir()}
    assert {"values.yaml", "deployment-milvus-querynode.yaml", "horizontalpodautoscaler-milvus-proxy.yaml",
            "poddisruptionbudget-milvus-querynode.yaml", "configmap-milvus-config.yaml"} <= files


def test_render_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert invoke("render", "--env", "staging", "--out", str(tmp_path / name)).exit_code == 0
    a = {p.name: p.read_text() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_text() for p in (tmp_path / "b").iterdir()}
    assert a == b


def test_bad_values_exit_2_name_each_field_and_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = invoke("render", "--env", "prod", "--set", "queryNode.replicas=-1", "--set", "image.tag=latest",
                    "--out", str(out))
    assert result.exit_code == 2
    assert "queryNode.replicas: -1 is less than the minimum of 0" in result.output
    assert "image.tag:" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_traceback_only_with_verbose() -> None:
    result = invoke("validate", "--env", "prod", "--set", "queryNode.replicas=-1", "-v")
    assert result.exit_code == 2 and "Traceback" in result.output


def test_unknown_env_is_bad_input() -> None:
    result = invoke("validate", "--env", "nope")
    assert result.exit_code == 2
    assert "unknown env 'nope'" in result.output and "Traceback" not in result.output


def test_validate_json_lists_problems() -> None:
    result = invoke("validate", "--env", "staging", "--set", "proxy.replicaz=1", "--output", "json")
    assert result.exit_code == 2
    payload = json.loads(result.stdout[result.stdout.index("{"):])
    assert payload["ok"] is False
    assert {"path": "proxy.replicaz", "rule": "schema", "message": "unknown key"} in payload["problems"]


def test_validate_ok() -> None:
    result = invoke("validate", "--env", "dev", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_usage_error_is_exit_2() -> None:
    assert invoke("render").exit_code == 2
    assert invoke("render", "--env", "dev", "--output", "xml").exit_code == 2


def test_version_json() -> None:
    result = invoke("version", "--output", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tools"]["k8s"]["version"] == "v1.34.4"


def test_verify_help_names_every_check() -> None:
    from deploytool.cli.verify import CHECK_NAMES
    from deploytool.deploy.checks.registry import CHECKS
    from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN

    assert CHECK_NAMES.split(", ") == [name for name, _ in CHECKS]
    assert (PASS, FAIL, WARN, SKIP) == ("pass", "fail", "warn", "skip")
