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


UNLOADABLE = sorted((Path(__file__).parent / "values_cases" / "unloadable").glob("*.yaml"))


@pytest.mark.parametrize("case", UNLOADABLE, ids=lambda p: p.stem)
def test_hostile_yaml_exits_2_in_one_line_and_writes_nothing(case: Path, tmp_path: Path) -> None:
    import re

    env = re.search(rb"^# env: (\S+)", case.read_bytes(), re.M).group(1).decode()  # type: ignore[union-attr]
    out = tmp_path / "out"
    result = invoke("render", "--env", env, "-f", str(case), "--out", str(out))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(case) in lines[0], result.output
    assert not out.exists()


def _unreadable_paths(tmp_path: Path) -> dict[str, Path]:
    import socket

    folder = tmp_path / "a-folder"
    folder.mkdir()
    sock_path = tmp_path / "a-socket.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))  # exists, is not a directory, cannot be opened as a file (ENXIO)
    return {"is a directory": folder, "cannot be read": sock_path, "not found": tmp_path / "missing.yaml"}


def test_values_path_that_is_a_directory_or_unreadable_exits_2(tmp_path: Path) -> None:
    for fragment, path in _unreadable_paths(tmp_path).items():
        result = invoke("validate", "--env", "dev", "-f", str(path))
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [result.output.strip()], result.output
        assert fragment in result.output and str(path) in result.output and "Error" not in result.output


def test_values_file_without_read_permission_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, for whom chmod 000 does not stop a read: the open() fails as it would for a user.
    locked = tmp_path / "locked.yaml"
    locked.write_text("mode: standalone\n")
    real_open = Path.open

    def deny(self: Path, *args, **kwargs):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    result = invoke("render", "--env", "dev", "-f", str(locked), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "cannot be read: Permission denied" in result.output, result.output
    assert not (tmp_path / "out").exists()


SECRET_MARK = "s3cr3t-do-not-print"
SECRET_VALUES = f"""\
credentials:
  accessKey: {{nested: {SECRET_MARK}-1}}
  secretKey: {SECRET_MARK}-2
config:
  minio:
    secretAccessKey: {SECRET_MARK}-3
  etcd:
    auth:
      password: {SECRET_MARK}-4
  common:
    security:
      superUsers: [{SECRET_MARK}-5]
      defaultRootPassword: 12345678
"""


@pytest.mark.parametrize("command", ["validate", "render", "up"])
@pytest.mark.parametrize("flags", [[], ["-v"], ["--output", "json"], ["-v", "--output", "json"]],
                         ids=["text", "verbose", "json", "verbose-json"])
def test_credentials_in_values_or_config_are_named_never_printed(
        command: str, flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploytool.core import toolchain

    monkeypatch.setenv("DEPLOYTOOL_HELM", str(toolchain.find("helm")))
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))
    values = tmp_path / "leaky.yaml"
    values.write_text(SECRET_VALUES)
    extra = {"render": ["--out", str(tmp_path / "out")],
             "up": ["--provider", "local", "--context", "never-made"]}.get(command, [])
    sets = ["--set", f"credentials.secretKey={SECRET_MARK}-6", "--set", f"config.kafka.saslPassword={SECRET_MARK}-7"]
    result = invoke(command, "--env", "staging", "-f", str(values), *sets, *extra, *flags)
    assert result.exit_code == 2, result.output
    assert SECRET_MARK not in result.output and "12345678" not in result.output, result.output
    for path in ("credentials.secretKey", "config.minio.secretAccessKey", "config.etcd.auth.password",
                 "config.kafka.saslPassword", "config.common.security.defaultRootPassword"):
        assert path in result.output, (path, result.output)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache" / "clusters").exists()


@pytest.mark.parametrize("flags", [[], ["-v"]])
def test_malformed_set_and_credentials_file_never_print_the_secret(
        flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploytool.core import toolchain

    monkeypatch.setenv("DEPLOYTOOL_HELM", str(toolchain.find("helm")))
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))
    result = invoke("validate", "--env", "dev", "--set", f"credentials..secretKey={SECRET_MARK}", *flags)
    assert result.exit_code == 2 and "empty segment" in result.output and SECRET_MARK not in result.output
    creds = tmp_path / "creds.yaml"
    creds.write_text(f"access-key: me\nsecret-key: {SECRET_MARK}-a\nsecret-key: {SECRET_MARK}-b\n")
    result = invoke("up", "--env", "staging", "--provider", "local", "--context", "never-made",
                    "--credentials-file", str(creds), *flags)
    assert result.exit_code == 2, result.output
    assert "secret-key: duplicate key" in result.output and SECRET_MARK not in result.output, result.output
    assert not (tmp_path / "cache" / "clusters").exists()


@pytest.mark.parametrize("key", ["nameOverride", "fullnameOverride"])
def test_up_refuses_a_chart_name_override_before_anything_changes(
        key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` writes the credentials Secret under the chart's default name; an override would leave the
    chart reading a Secret nobody wrote, so it is refused (exit 2, no cluster created)."""
    from deploytool.core import toolchain

    monkeypatch.setenv("DEPLOYTOOL_HELM", str(toolchain.find("helm")))
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))
    result = invoke("up", "--env", "dev", "--provider", "local", "--context", "never-made", "--set", f"{key}=vectordb")
    assert result.exit_code == 2, result.output
    assert f"{key}: is not supported" in result.output and "name-overrides-unsupported" in result.output
    assert not (tmp_path / "cache" / "clusters").exists()
