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


def test_keep_going_warns_and_runs_the_rest_but_not_after_an_interrupt(capsys) -> None:
    seen: list[str] = []

    def boom(ctx):
        raise RuntimeError("exploded")

    def interrupt(ctx):
        raise KeyboardInterrupt

    record = run_steps(None, [Step("one", boom), Step("two", lambda ctx: seen.append("two") or "done")],
                       keep_going=True)
    assert seen == ["two"] and not record.ok
    assert [(r.name, r.ok, r.detail) for r in record.results] == [("one", False, "exploded"), ("two", True, "done")]
    err = capsys.readouterr().err
    assert "! one" in err and "✓ two" in err
    with pytest.raises(KeyboardInterrupt):
        run_steps(None, [Step("stop", interrupt), Step("never", lambda ctx: seen.append("never") or "")],
                  keep_going=True)
    assert seen == ["two"]
