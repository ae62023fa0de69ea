"""Schema + semantic validation as a table of values files.

Each file in values_cases/ names its env (`# env: prod`) and, when invalid, every problem it must
produce (`# expect: <values path> | <text in the message>`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploytool.core.errors import BadInput, UnknownEnvironment
from deploytool.render.validate import validate
from deploytool.render.values import Layers, env_file, parse_set

CASES = Path(__file__).parent / "values_cases"


def _header(path: Path) -> tuple[str, list[tuple[str, str]]]:
    text = path.read_text()
    env = re.search(r"^# env: (\S+)", text, re.M)
    assert env, f"{path.name} must name its env"
    expects = [(m.group(1).strip(), m.group(2).strip()) for m in re.finditer(r"^# expect: (\S+) \| (.+)$", text, re.M)]
    return env.group(1), expects


def _problems(path: Path):
    env, expects = _header(path)
    values = Layers(env, files=[path]).merged()
    return validate(env, values), expects


@pytest.mark.parametrize("path", sorted((CASES / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_values_are_refused_naming_the_field(path: Path) -> None:
    problems, expects = _problems(path)
    assert expects, f"{path.name} must say what it expects"
    assert problems, f"{path.name} was accepted"
    for field, fragment in expects:
        hits = [p for p in problems if p.path == field and fragment in p.message]
        assert hits, f"expected a problem at {field!r} containing {fragment!r}; got {[str(p) for p in problems]}"


@pytest.mark.parametrize("path", sorted((CASES / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_values_pass(path: Path) -> None:
    problems, _ = _problems(path)
    assert problems == []


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_committed_envs_are_valid(env: str) -> None:
    assert validate(env, Layers(env).merged()) == []


@pytest.mark.parametrize("path", sorted((CASES / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_a_case_naming_its_rule_is_refused_by_that_rule(path: Path) -> None:
    named = re.search(r"^# rule: (\S+)", path.read_text(), re.M)
    if named is None:
        return
    problems, _ = _problems(path)
    assert named.group(1) in {p.rule for p in problems}, [str(p) for p in problems]


def test_every_contract_rule_has_a_breaking_case() -> None:
    from deploytool.render.contract_rules import RULE_NAMES

    refused = {p.rule for path in (CASES / "invalid").glob("*.yaml") for p in _problems(path)[0]}
    assert set(RULE_NAMES) <= refused, f"rules without a breaking values case: {sorted(set(RULE_NAMES) - refused)}"


def test_every_problem_is_collected_not_just_the_first() -> None:
    problems, expects = _problems(CASES / "invalid" / "several-problems.yaml")
    assert len(problems) >= len(expects) == 3


def test_rules_are_named() -> None:
    problems, _ = _problems(CASES / "invalid" / "limits-below-requests.yaml")
    assert [p.rule for p in problems] == ["limits-cover-requests"]
    assert str(problems[0]).startswith("queryNode.resources.limits.memory: limit 8Gi is below the request 16Gi")


def test_unknown_env_names_the_known_ones() -> None:
    with pytest.raises(UnknownEnvironment, match="known: dev, prod, staging"):
        Layers("qa").merged()


def test_env_name_cannot_escape_values_dir() -> None:
    with pytest.raises(UnknownEnvironment):
        Layers("../charts/milvus/values").merged()


def _unloadable(path: Path) -> tuple[str, str]:
    text = path.read_bytes().decode("latin-1")  # one case is deliberately not UTF-8
    env = re.search(r"^# env: (\S+)", text, re.M)
    error = re.search(r"^# expect-error: (.+)$", text, re.M)
    assert env and error, f"{path.name} must name its env and expected error"
    return env.group(1), error.group(1).strip()


@pytest.mark.parametrize("path", sorted((CASES / "unloadable").glob("*.yaml")), ids=lambda p: p.stem)
def test_ambiguous_or_hostile_yaml_is_refused_naming_file_and_key(path: Path) -> None:
    env, fragment = _unloadable(path)
    with pytest.raises(BadInput) as info:
        Layers(env, files=[path]).merged()
    assert fragment in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("expr, fragment", [
    ("config.proxy={a: 1, a: 2}", "--set config.proxy: a: duplicate key"),
    ("config.x=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
     "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]",
     "aliases expand to more than"),
    ("credentials..secretKey=hunter2-value", "--set credentials..secretKey=…: empty segment"),
])
def test_set_refuses_the_same_yaml_and_never_echoes_the_value(expr: str, fragment: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_set(expr)
    assert fragment in str(info.value) and "hunter2" not in str(info.value)


def test_set_text_that_is_not_yaml_is_a_string() -> None:
    assert parse_set("config.note=[unclosed") == {"config": {"note": "[unclosed"}}


def test_env_whose_namespace_is_not_a_dns_label_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "Team_A.yaml").write_text("mode: standalone\n")
    monkeypatch.setenv("DEPLOYTOOL_PROJECT", str(tmp_path))
    with pytest.raises(BadInput, match="namespace 'milvus-Team_A' is not a DNS-1123 label"):
        env_file("Team_A")


def test_schema_messages_never_print_a_mapping_or_a_sensitive_value() -> None:
    problems = validate("staging", Layers("staging", sets=[
        "credentials.accessKey={nested: s3cr3t-a}", "config.minio.secretAccessKey=s3cr3t-b",
        "mode={oops: s3cr3t-c}"]).merged())
    text = " ".join(str(p) for p in problems)
    assert {p.path for p in problems} >= {"credentials.accessKey", "config.minio.secretAccessKey", "mode"}
    assert "s3cr3t" not in text, text
