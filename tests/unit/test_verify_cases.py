"""Every verify check as a table of YAML fixtures, run without a cluster.

verify_cases/<check>/<status>/<case>.yaml: the check must return <status> (pass, fail, warn, skip)
on the case's `expected` (rendered objects, plus `values` and `env` for the names) and `snapshot`
(plain data, `Snapshot.from_dict`). `evidence` lists text the result's evidence must contain,
`absent` text that must appear nowhere in the result (a secret value, say).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploytool.core.config import Target
from deploytool.deploy.checks.registry import CHECKS
from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.verify import Check, run_check
from deploytool.render.manifests import Rendered

CASES = Path(__file__).parent / "verify_cases"
STATUSES = ("pass", "fail", "warn", "skip")
BY_NAME = {c.name: c for c in CHECKS}
ALL_CASES = sorted(CASES.glob("*/*/*.yaml"))


def load_case(path: Path) -> tuple[Check, str, Rendered, Snapshot, dict[str, Any]]:
    check_name, status = path.parent.parent.name, path.parent.name
    assert check_name in BY_NAME, f"{path}: no check named {check_name}"
    assert status in STATUSES, f"{path}: {status} is not one of {STATUSES}"
    case = yaml.safe_load(path.read_text())
    unknown = set(case) - {"env", "values", "expected", "snapshot", "evidence", "absent"}
    assert not unknown, f"{path}: unknown keys {unknown}"
    target = Target(case.get("env", "prod"))
    expected = Rendered(target, case.get("values") or {}, case.get("expected") or [])
    snapshot = {"namespace": target.namespace, **(case.get("snapshot") or {})}
    return BY_NAME[check_name], status, expected, Snapshot.from_dict(snapshot), case


@pytest.mark.parametrize("path", ALL_CASES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_check_on_fixture(path: Path) -> None:
    check, status, expected, snap, case = load_case(path)
    result = run_check(check, expected, snap)
    text = "\n".join(result.evidence)
    assert result.status == status, f"{check.name} returned {result.status}, not {status}:\n{text}"
    assert result.name == check.name and result.evidence, "a result always says why"
    for fragment in case.get("evidence") or []:
        assert fragment in text, f"{fragment!r} not in the evidence:\n{text}"
    for fragment in case.get("absent") or []:
        assert fragment not in json.dumps(result.as_dict()), f"{fragment!r} appears in the result"
    if status in ("fail", "warn"):
        assert result.fix, "a failing or warning check says how to fix it"
    assert not text.startswith("check could not run"), text


@pytest.mark.parametrize("check", [c.name for c in CHECKS])
def test_every_check_has_passing_and_failing_cases(check: str) -> None:
    statuses = {p.parent.name for p in ALL_CASES if p.parent.parent.name == check}
    assert {"pass", "fail"} <= statuses, f"{check} has cases for {sorted(statuses)} only"


def test_fixture_with_a_typo_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        Snapshot.from_dict({"namespace": "x", "pods": [{"name": "p", "nodename": "n1"}]})
