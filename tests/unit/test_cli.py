"""The CLI through typer's CliRunner: exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    from deploytool.deploy.checks.registry import CHECKS

    help_text = " ".join(invoke("verify", "--help").output.split())
    for check in CHECKS:
        assert check.name in help_text, check.name


def test_render_never_deletes_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    (out / "sub").mkdir(parents=True)
    (out / "important.txt").write_text("keep me")
    result = invoke("render", "--env", "dev", "--out", str(out))
    assert result.exit_code == 2 and "did not write" in result.output
    assert (out / "important.txt").read_text() == "keep me" and (out / "sub").is_dir()


def test_render_replaces_its_own_files_and_drops_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "env"
    assert invoke("render", "--env", "prod", "--out", str(out)).exit_code == 0
    assert invoke("render", "--env", "dev", "--out", str(out)).exit_code == 0
    assert not (out / "deployment-milvus-proxy.yaml").exists(), "prod-only objects are gone"
    assert (out / "statefulset-milvus-standalone.yaml").exists()


@pytest.mark.parametrize("case", sorted((Path(__file__).parent / "values_cases" / "invalid").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_invalid_values_file_exits_2_naming_its_fields(case: Path, tmp_path: Path) -> None:
    import re

    env = re.search(r"^# env: (\S+)", case.read_text(), re.M).group(1)  # type: ignore[union-attr]
    fields = re.findall(r"^# expect: (\S+) \|", case.read_text(), re.M)
    out = tmp_path / "out"
    result = invoke("render", "--env", env, "-f", str(case), "--out", str(out))
    assert result.exit_code == 2, result.output
    for field in fields:
        assert f"  {field}: " in result.output, (field, result.output)
    assert "Traceback" not in result.output and not out.exists()


def test_up_refuses_missing_prod_credentials_before_creating_any_cluster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploytool.core import toolchain

    monkeypatch.setenv("DEPLOYTOOL_HELM", str(toolchain.find("helm")))  # before the cache moves
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DEPLOYTOOL_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("DEPLOYTOOL_S3_SECRET_KEY", raising=False)
    result = invoke("up", "--env", "prod", "--provider", "local", "--context", "never-made")
    assert result.exit_code == 2, result.output
    assert "needs object-storage credentials" in result.output
    assert not (tmp_path / "cache" / "clusters" / "never-made").exists()
