"""Schema + semantic validation as a table of values files.

Each file in values_cases/ names its env (`# env: prod`) and, when invalid, every problem it must
produce (`# expect: <values path> | <text in the message>`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploytool.core.errors import UnknownEnvironment
from deploytool.render.validate import validate
from deploytool.render.values import Layers

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
