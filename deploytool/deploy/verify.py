"""`verify`: named checks, each a pure function of (expected, snapshot) returning a result with
evidence and a fix.

The expected state is the render (`Rendered`); the live state is one `Snapshot` of plain data. A
`Loader` fills the parts of the snapshot a check reads (one LIST per kind per run, shared by every
check), so each result records the API calls its check caused and unit tests run the same checks
on fixtures without a cluster.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # `verify --help` and the CLI's result printing load neither the model nor the renderer
    from deploytool.deploy.snapshot import Snapshot
    from deploytool.render.manifests import Rendered

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"


@dataclass
class Result:
    name: str
    status: str
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    api_calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def config_checksum(user_yaml: str) -> str:
    """The chart's checksum/config: sha256 of user.yaml as the template emits it (no final newline)."""
    return hashlib.sha256(user_yaml.rstrip("\n").encode()).hexdigest()


CheckFn = Callable[["Rendered", "Snapshot"], Result]


class Loader(Protocol):
    """Fills snapshot parts from a live cluster and acts on it for --deep."""

    @property
    def api_calls(self) -> int: ...

    def load(self, snap: Snapshot, parts: tuple[str, ...], expected: Rendered) -> None: ...


DeepFn = Callable[[Any, "Rendered", "Snapshot", Result], Result]


@dataclass(frozen=True)
class Check:
    name: str
    fn: CheckFn
    reads: tuple[str, ...]  # the Snapshot fields the check reads
    deep: DeepFn | None = None  # --deep: an action on the live cluster after the check passed


def run_check(check: Check, expected: Rendered, snap: Snapshot) -> Result:
    """One check on a complete snapshot; a check that cannot run is a failed check, with the reason."""
    try:
        result = check.fn(expected, snap)
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        result = Result(check.name, FAIL, [f"check could not run: {type(exc).__name__}: {str(exc)[:300]}"],
                        "see the error; rerun with -v")
    result.name = check.name
    return result


def run_checks(expected: Rendered, snap: Snapshot, checks: list[Check], loader: Loader | None = None,
               deep: Any = None, on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Run checks in order. With a loader, each check's parts are loaded first (and counted as its
    API calls); with `deep` (the live cluster), a passed check's deep action runs after it."""
    results = []
    for check in checks:
        before = loader.api_calls if loader else 0
        start = time.monotonic()
        try:
            if loader:
                loader.load(snap, check.reads, expected)
            result = run_check(check, expected, snap)
            if deep is not None and check.deep and result.status == PASS:
                result = check.deep(deep, expected, snap, result)
        except Exception as exc:  # noqa: BLE001 - reading the cluster failed: the check failed
            result = Result(check.name, FAIL, [f"check could not run: {type(exc).__name__}: {str(exc)[:300]}"],
                            "see the error; rerun with -v")
        result.api_calls = (loader.api_calls if loader else 0) - before
        result.seconds = round(time.monotonic() - start, 2)
        results.append(result)
        if on_result:
            on_result(result)
    return results
