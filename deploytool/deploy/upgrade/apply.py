"""Apply a plan: one helm revision per step, each waited on until the whole release is fully rolled.

Each step is a `helm upgrade` (no --wait: deploytool watches) whose values move that step's
components to the target tag and pin the others to the tag they run. Between steps the release
must be fully rolled (every workload: generation observed, updated == ready == available ==
desired, no surplus pod) and, with a ledger, Milvus must still hold everything it held. A step
that stalls (stall.py: a cause visible for `stall_grace_s`), is not rolled within `timeout_s`, or
loses data ends the upgrade: `helm rollback <starting revision> --wait`, and the result is a
failure (the CLI exits 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deploytool.core import paths
from deploytool.core.config import Target
from deploytool.core.errors import CheckFailed, CommandFailed
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.labels import release_selector
from deploytool.deploy.upgrade.facts import LiveFacts, gather, render_target
from deploytool.deploy.upgrade.ledger import Ledger, LedgerEntry
from deploytool.deploy.upgrade.plan import COMPONENT_KEYS, Plan, Request, make_plan, step_values
from deploytool.deploy.upgrade.stall import Cause, StallTracker, diagnose, read_state
from deploytool.deploy.workloads import list_workloads

Phase = Callable[[str, str], Any]
# The provider's work before helm for a release (Connection.prepare): (namespace, values) -> detail.
Prepare = Callable[[str, Mapping[str, Any]], str]


@dataclass
class ApplyOptions:
    timeout_s: int = 300  # per step, and for the rollback
    stall_grace_s: float = 5.0
    poll_s: float = 1.0


@dataclass
class StepResult:
    label: str
    ok: bool
    seconds: float
    ledger: LedgerEntry | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "ok": self.ok, "seconds": round(self.seconds, 1),
                "ledger_ok": None if self.ledger is None else self.ledger.ok}


@dataclass
class ApplyResult:
    start_revision: int
    steps: list[StepResult] = field(default_factory=list)
    failed_step: str = ""
    causes: list[str] = field(default_factory=list)
    detect_seconds: float | None = None  # from the cause being visible to the decision to roll back
    rolled_back: bool = False
    rollback_ok: bool | None = None
    rollback_seconds: float = 0.0
    ledger: list[LedgerEntry] = field(default_factory=list)
    seconds: float = 0.0
    prepared: str = ""  # what the provider did before the first step ("" if it had nothing to do)
    prepare_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed_step

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "start_revision": self.start_revision, "steps": [s.as_dict() for s in self.steps],
                "failed_step": self.failed_step, "causes": self.causes,
                "detect_seconds": None if self.detect_seconds is None else round(self.detect_seconds, 1),
                "rolled_back": self.rolled_back, "rollback_ok": self.rollback_ok,
                "rollback_seconds": round(self.rollback_seconds, 1), "seconds": round(self.seconds, 1),
                "prepared": self.prepared, "prepare_seconds": round(self.prepare_seconds, 1),
                "ledger": [e.as_dict() for e in self.ledger]}


def plan_release(kube: Kube, helm: Helm, target: Target, revision: int, request: Request) -> tuple[Plan, LiveFacts]:
    """Gather the live facts once, render the end state, and plan (nothing is changed)."""
    facts = gather(kube, helm, target, revision)
    components = [w.component for w in facts.workloads if w.component in COMPONENT_KEYS]
    final = step_values(facts.values, request.to, components, set(components))
    return make_plan(request, facts, render_target(helm, target, final)), facts


def rolled(kube: Kube, namespace: str, selector: str) -> tuple[bool, list[str]]:
    """Every workload of the release fully rolled (core.rollout), or what is still pending."""
    pending = [r.describe() for r in list_workloads(kube, namespace, selector) if not r.fully_rolled]
    return not pending, pending


class _Stalled(Exception):
    def __init__(self, causes: list[str], detect_s: float | None) -> None:
        super().__init__(causes[0] if causes else "stalled")
        self.causes, self.detect_s = causes, detect_s


class Upgrade:
    """Runs one plan against one release. `phase(name, detail)` reports progress. `prepare` (the
    cluster's Connection.prepare, None when its provider has nothing to do) runs once before the
    first step with the target's values: e.g. the local provider builds and imports the target tag's
    images into its real nodes there, as `up` does before helm."""

    def __init__(self, kube: Kube, helm: Helm, target: Target, plan: Plan, start_values: dict[str, Any],
                 start_revision: int, options: ApplyOptions, phase: Phase, ledger: Ledger | None = None,
                 prepare: Prepare | None = None) -> None:
        self.kube, self.helm, self.target, self.plan = kube, helm, target, plan
        self.start_values, self.options, self.phase, self.ledger = start_values, options, phase, ledger
        self.prepare = prepare
        self.result = ApplyResult(start_revision)
        self.selector = release_selector(target.release)

    def run(self) -> ApplyResult:
        begin = time.monotonic()
        components = [c for step in self.plan.steps for c in step.components]
        done: set[str] = set()
        if self.prepare is not None:
            self.phase("provider prerequisites", f"for {self.plan.request.to}")
            started = time.monotonic()
            final = step_values(self.start_values, self.plan.request.to, components, set(components))
            self.result.prepared = self.prepare(self.target.namespace, final)
            self.result.prepare_seconds = time.monotonic() - started
            self.phase("provider prerequisites done", self.result.prepared)
        if self.ledger is not None:
            self.phase("ledger", "writing the canary")
            try:
                self.ledger.write_canary()
            except Exception as exc:  # noqa: BLE001 - any pymilvus/port-forward failure: nothing was changed yet
                raise CheckFailed(f"the ledger could not write its canary through a ready "
                                  f"{self.ledger.component} pod ({type(exc).__name__}: {str(exc)[:200]}); "
                                  "nothing was changed") from exc
            before = self._ledger_entry("before")
            if not before.ok:
                raise CheckFailed("the ledger's first entry is incomplete ("
                                  + "; ".join(before.problems or [before.error or "canary vectors missing"])
                                  + "); nothing was changed")
        for step in self.plan.steps:
            done |= set(step.components)
            values = step_values(self.start_values, self.plan.request.to, components, done, self.plan.from_tags)
            self.phase(f"upgrade {step.label}", f"{', '.join(sorted(set(step.from_tags.values())))} -> {step.to}")
            started = time.monotonic()
            try:
                self._apply(values)
                self._wait_rolled(step.components, step.to)
            except (CommandFailed, _Stalled, TimeoutError) as exc:
                self.result.steps.append(StepResult(step.label, False, time.monotonic() - started))
                self._fail(step.label, exc)
                break
            entry = self._ledger_entry(f"after {step.label}") if self.ledger is not None else None
            self.result.steps.append(StepResult(step.label, entry is None or entry.ok, time.monotonic() - started,
                                                entry))
            if entry is not None and not entry.ok:
                self._fail(step.label, _Stalled([f"ledger after {step.label}: " + p for p in
                                                 (entry.problems or [entry.error or "canary incomplete"])], None))
                break
        self.result.seconds = time.monotonic() - begin
        return self.result

    def _ledger_entry(self, label: str) -> LedgerEntry:
        assert self.ledger is not None
        entry = self.ledger.record(label)
        self.result.ledger = list(self.ledger.entries)
        self.phase(f"ledger {label}", f"{entry.canary_found}/{entry.canary_total} canary vectors found, "
                                      f"{len(entry.collections)} collection(s)"
                   + (f"; {'; '.join(entry.problems or [entry.error])}" if not entry.ok else ""))
        return entry

    def _apply(self, values: dict[str, Any]) -> None:
        self.helm.upgrade_install(self.target.release, paths.chart_dir(), self.target.namespace, values,
                                  timeout_s=self.options.timeout_s, atomic=False, install=False, wait=False)

    def _wait_rolled(self, components: list[str], to: str) -> None:
        tracker = StallTracker(self.options.stall_grace_s)
        deadline = time.monotonic() + self.options.timeout_s
        pending: list[str] = []
        while True:
            try:
                ok, pending = rolled(self.kube, self.target.namespace, self.selector)
                if ok:
                    return
                pods, conditions = read_state(self.kube, self.target.namespace, self.selector)
            except (ApiException, HTTPError, OSError):  # a transient API error counts as "not yet"
                ok, pods, conditions = False, [], []
            now = time.monotonic()
            stalled = tracker.observe(diagnose(pods, conditions, components, to), now)
            if stalled:
                seen = min(tracker.visible_since(c) or now for c in stalled)
                raise _Stalled([str(c) for c in _unique(stalled)], now - seen)
            if now >= deadline:
                raise TimeoutError(f"not fully rolled within {self.options.timeout_s}s: " + "; ".join(pending))
            time.sleep(self.options.poll_s)

    def _fail(self, label: str, exc: Exception) -> None:
        result = self.result
        result.failed_step = label
        if isinstance(exc, _Stalled):
            result.causes, result.detect_seconds = exc.causes, exc.detect_s
        else:
            result.causes = [str(exc).splitlines()[0][:400]]
        self.phase("step failed", result.causes[0][:200])
        started = time.monotonic()
        self.phase("rollback", f"helm rollback to revision {result.start_revision}")
        try:
            self.helm.rollback(self.target.release, self.target.namespace, result.start_revision,
                               timeout_s=self.options.timeout_s)
            deadline = time.monotonic() + self.options.timeout_s
            while not rolled(self.kube, self.target.namespace, self.selector)[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not rolled back within {self.options.timeout_s}s")
                time.sleep(self.options.poll_s)
            result.rollback_ok = True
        except (CommandFailed, TimeoutError, ApiException) as err:
            result.rollback_ok = False
            result.causes.append(f"rollback: {str(err).splitlines()[0][:300]}")
        result.rolled_back = True
        result.rollback_seconds = time.monotonic() - started
        self.phase("rolled back" if result.rollback_ok else "rollback not settled",
                   f"revision {result.start_revision} restored in {result.rollback_seconds:.1f}s")
        if self.ledger is not None and self.ledger.entries:
            self._ledger_entry("after rollback")


def _unique(causes: list[Cause]) -> list[Cause]:
    seen, out = set(), []
    for cause in causes:
        key = (cause.component, cause.reason, cause.message)
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out

