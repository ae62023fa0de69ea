"""core.wait (the one deadline loop) and core.rollout (the one "fully rolled")."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from deploytool.core.errors import CheckFailed
from deploytool.core.rollout import rollout_of
from deploytool.core.wait import wait_until


def test_wait_until_returns_the_first_truthy_value_and_retries_errors() -> None:
    answers: list[Any] = [ValueError("not yet"), 0, "done"]

    def check() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(check, 5, interval=0.01) == "done"


def test_wait_until_names_what_is_pending_and_raises_the_given_error() -> None:
    with pytest.raises(CheckFailed, match=r"timed out after 0s waiting for pods \(2 of 3 ready\)"):
        wait_until(lambda: False, 0.05, 0.01, "pods", pending=lambda: "2 of 3 ready", error=CheckFailed)
    with pytest.raises(TimeoutError, match="last error: boom"):
        wait_until(lambda: (_ for _ in ()).throw(OSError("boom")), 0.05, 0.01)


def test_errors_not_retried_propagate_at_once() -> None:
    with pytest.raises(KeyError):
        wait_until(lambda: {}["x"], 5, 0.01, retry=(OSError,))


def workload(kind: str, desired: int, current: int, updated: int, ready: int, available: int,
             generation: int = 2, observed: int = 2, revisions: tuple[str, str] = ("a", "a")) -> NS:
    spec = NS(replicas=desired, **({"service_name": "svc"} if kind == "StatefulSet" else {}))
    status = NS(replicas=current, updated_replicas=updated, ready_replicas=ready, available_replicas=available,
                observed_generation=observed, current_revision=revisions[0], update_revision=revisions[1])
    return NS(metadata=NS(name="milvus-x", generation=generation, labels={"app.kubernetes.io/component": "x"}),
              spec=spec, status=status)


@pytest.mark.parametrize(("case", "obj", "rolled"), [
    ("all equal", workload("Deployment", 3, 3, 3, 3, 3), True),
    ("an old pod left over (surge)", workload("Deployment", 3, 4, 3, 3, 3), False),
    ("one not updated", workload("Deployment", 3, 3, 2, 3, 3), False),
    ("one not ready", workload("Deployment", 3, 3, 3, 2, 2), False),
    ("spec change not observed", workload("Deployment", 3, 3, 3, 3, 3, generation=3), False),
    ("statefulset done", workload("StatefulSet", 1, 1, 1, 1, 1), True),
    ("statefulset revision still rolling", workload("StatefulSet", 2, 2, 2, 2, 2, revisions=("a", "b")), False),
    ("scaled to zero", workload("Deployment", 0, 0, 0, 0, 0), True),
])
def test_fully_rolled(case: str, obj: NS, rolled: bool) -> None:
    state = rollout_of(obj)
    assert state.fully_rolled is rolled, state.describe()
    assert state.component == "x"
