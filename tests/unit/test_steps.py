from __future__ import annotations

import pytest

from deploytool.core.steps import Run, Step, run_steps


def test_steps_run_in_order_skip_what_does_not_apply_and_stop_at_failure(capsys) -> None:
    seen: list[str] = []

    def ok(name):
        return lambda ctx: seen.append(name) or f"did {name}"

    def boom(ctx):
        raise RuntimeError("exploded")

    record = Run()
    steps = [Step("one", ok("one")), Step("skipped", ok("skipped"), applies=lambda ctx: False),
             Step("two", boom), Step("three", ok("three"))]
    with pytest.raises(RuntimeError):
        run_steps(None, steps, record)
    assert seen == ["one"]
    assert [(r.name, r.ok) for r in record.results] == [("one", True), ("two", False)]
    err = capsys.readouterr().err
    assert "✓ one" in err and "✗ two" in err and "exploded" in err and "three" not in err
