"""A long operation as an ordered list of small named steps sharing one context.

Each step prints one line (✓/✗, name, seconds, detail); a step whose `applies` says no is left
out; the first failure stops the run and the error propagates after the line is printed -- or,
with keep_going (teardown: remove as much as possible), prints a ! line and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from deploytool.core import output

C = TypeVar("C")
T = TypeVar("T")


@dataclass
class Step(Generic[C]):
    name: str
    run: Callable[[C], str | None]  # returns a short detail for the status line
    applies: Callable[[C], bool] = lambda ctx: True


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "seconds": round(self.seconds, 2), "detail": self.detail}


@dataclass
class Run:
    results: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def as_list(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.results]


def run_steps(ctx: C, steps: list[Step[C]], record: Run | None = None, quiet: bool = False,
              keep_going: bool = False) -> Run:
    record = record or Run()
    for step in steps:
        if not step.applies(ctx):
            continue
        start = time.monotonic()
        try:
            detail = step.run(ctx) or ""
        except BaseException as exc:
            seconds = time.monotonic() - start
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            record.results.append(StepResult(step.name, False, seconds, detail))
            going_on = keep_going and isinstance(exc, Exception)
            if not quiet:
                output.status(output.WARN if going_on else output.FAIL, step.name, seconds, detail)
            if going_on:
                continue
            raise
        seconds = time.monotonic() - start
        record.results.append(StepResult(step.name, True, seconds, detail))
        if not quiet:
            output.status(output.OK, step.name, seconds, detail)
    return record


def run_step(record: Run, name: str, produce: Callable[[], tuple[T, str]], quiet: bool = False) -> T:
    """One step that produces a value (a plan, a connection): produce() returns (value, detail)."""
    box: list[T] = []

    def run(_: None) -> str:
        value, detail = produce()
        box.append(value)
        return detail

    run_steps(None, [Step(name, run)], record, quiet)
    return box[0]
