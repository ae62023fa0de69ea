"""What every drill shares: find the release, run the recorder and the probe beside the scenario,
undo the fault whatever happens, check, print the verdict, write the report.

A drill is a Drill subclass: plan() validates and decides (raising BadInput -- exit 2 -- before
anything is changed), run() drives the scenario and marks phases, restore() undoes the fault (in a
finally), assertions() turns the recording into verdicts.
"""

from __future__ import annotations

import abc
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deploytool.clusters.base import Connection
from deploytool.clusters.faults import Faults
from deploytool.core import output
from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.labels import release_selector
from deploytool.core.rollout import Rollout
from deploytool.core.wait import wait_until
from deploytool.deploy import cluster_select
from deploytool.deploy.cluster_select import ClusterChoice
from deploytool.deploy.release import deployed_revision
from deploytool.deploy.workloads import list_workloads
from deploytool.drills.checks import probe_assertion
from deploytool.drills.model import Assertion, DrillResult, Phase, Recording
from deploytool.drills.probe import Probe
from deploytool.drills.recorder import Clock, Recorder
from deploytool.drills.report import default_dir, write_report
from deploytool.render.components import endpoint_component
from deploytool.render.values import env_file


@dataclass
class DrillOptions:
    env: str
    choice: ClusterChoice
    report_dir: Path | None = None
    probe_rate: float = 20.0
    max_errors: int | None = None  # None: the drill's default
    timeout_s: int = 300
    quiet: bool = False


@dataclass
class DrillContext:
    options: DrillOptions
    target: Target
    conn: Connection
    values: dict[str, Any]
    revision: int
    clock: Clock = field(default_factory=Clock)
    rec: Recording = field(default_factory=Recording)
    recorder: Recorder | None = None
    probe: Probe | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def kube(self) -> Kube:
        return self.conn.kube

    @property
    def helm(self) -> Helm:
        return self.conn.helm

    @property
    def faults(self) -> Faults:
        """What the drill may break on this cluster (fail a node, drive CPU, make a tag unpullable)."""
        return self.conn.faults

    @property
    def cluster(self) -> str:
        return self.conn.describe()

    @property
    def endpoint(self) -> str:
        return endpoint_component(self.values)

    @property
    def selector(self) -> str:
        return release_selector(self.target.release)

    def phase(self, name: str, detail: str = "") -> float:
        t = self.clock.now()
        self.rec.phases.append(Phase(t, name, detail))
        output.info(f"  {t:7.1f}s  {name}" + (f" — {detail}" if detail else ""))
        return t

    def workloads(self) -> list[Rollout]:
        return list_workloads(self.kube, self.target.namespace, self.selector)

    def wait(self, predicate: Callable[[], bool], timeout_s: float, interval: float = 1.0) -> bool:
        """Poll predicate until it holds (True) or timeout_s passes (False); errors count as 'not yet'."""
        try:  # transient API errors while the cluster churns count as 'not yet'
            return wait_until(predicate, timeout_s, interval, retry=(ApiException, HTTPError, OSError))
        except TimeoutError:
            return False

    def all_settled(self) -> bool:
        states = self.workloads()
        return bool(states) and all(s.fully_rolled for s in states)


class Drill(abc.ABC):
    name = ""
    default_max_errors = 0
    probe_prefer_node: str | None = None

    def plan(self, ctx: DrillContext) -> None:  # noqa: B027 - optional hook
        """Validate and decide before anything changes (BadInput -> exit 2)."""

    @abc.abstractmethod
    def run(self, ctx: DrillContext) -> None:
        """Make the change or fault the drill rehearses."""

    def restore(self, ctx: DrillContext) -> None:  # noqa: B027 - optional hook
        """Undo whatever run() changed; called in a finally."""

    @abc.abstractmethod
    def assertions(self, ctx: DrillContext) -> list[Assertion]:
        """The drill's expectations, judged on the recording."""


def connect(options: DrillOptions) -> DrillContext:
    """Environment, cluster and release, or BadInput (exit 2) with a line saying what to do."""
    env_file(options.env)  # unknown env -> UnknownEnvironment before any cluster is touched
    target = Target(options.env)
    conn = cluster_select.connect(options.choice)
    revision = deployed_revision(conn.helm, target)
    values = conn.helm.get_values(target.release, target.namespace)
    return DrillContext(options, target, conn, values, revision)


def execute(drill: Drill, ctx: DrillContext) -> tuple[DrillResult, Path]:
    opts = ctx.options
    max_errors = drill.default_max_errors if opts.max_errors is None else opts.max_errors
    ctx.parameters.update(probe_rate=opts.probe_rate, max_errors=max_errors, timeout_s=opts.timeout_s,
                          provider=ctx.conn.info.name, release=ctx.target.release, start_revision=ctx.revision)
    started_utc = datetime.now(UTC)
    drill.plan(ctx)
    output.info(f"drill {drill.name} on {ctx.target.namespace} ({ctx.cluster}), release revision {ctx.revision}")
    failure: str | None = None
    ctx.recorder = Recorder(ctx.kube, ctx.target.namespace, ctx.target.release, ctx.target.fullname, ctx.clock,
                            ctx.rec)
    ctx.probe = Probe(ctx.kube, ctx.target.namespace, ctx.target.release, ctx.endpoint, ctx.clock,
                      rate=opts.probe_rate, max_seconds=opts.timeout_s * 6 + 600, prefer_node=drill.probe_prefer_node,
                      samples=ctx.rec.probe_samples)
    scenario_start = None
    restore_error = ""
    try:
        ctx.recorder.start()
        ctx.recorder.listeners.append(ctx.probe.on_pod)
        t = time.monotonic()
        pod = ctx.probe.prepare()
        ctx.timings["probe setup"] = time.monotonic() - t
        ctx.probe.start()
        ctx.phase("probe running", f"{opts.probe_rate:g} searches/s via {pod}")
        time.sleep(2.0)  # a baseline before the fault
        scenario_start = time.monotonic()
        drill.run(ctx)
    except KeyboardInterrupt:
        failure = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a failed drill, with the report
        failure = f"{type(exc).__name__}: {exc}"
        ctx.notes.append(f"the drill stopped early: {failure}")
        if not opts.quiet:
            output.info(traceback.format_exc(limit=3).rstrip())
    finally:
        try:
            drill.restore(ctx)
        except Exception as exc:  # noqa: BLE001 - the report must still be written, saying so
            restore_error = f"{type(exc).__name__}: {exc}"
            ctx.notes.append(f"undoing the fault failed: {restore_error}")
            output.error(f"undoing the fault failed: {restore_error} -- check the cluster by hand")
        time.sleep(1.0)  # let the last events arrive
        ctx.probe.stop()
        ctx.recorder.stop()
        ctx.notes.append(f"probe cleanup: {ctx.probe.cleanup()}")
        if scenario_start is not None:
            ctx.timings["scenario"] = time.monotonic() - scenario_start
    ctx.parameters["api_calls"] = {"drill": ctx.kube.api.total, "recorder": ctx.recorder.requests}
    if ctx.recorder.watch_errors:
        errors = ctx.recorder.watch_errors
        ctx.notes.append(f"{len(errors)} watch interruption(s), first: {errors[0]}")
    assertions = drill.assertions(ctx) if failure is None else []
    if failure is not None:
        assertions.append(Assertion("drill ran to the end", False, "no error", failure))
    if restore_error:
        assertions.append(Assertion("fault undone", False, "the cluster is back as it was", restore_error))
    assertions.append(probe_assertion(ctx.rec.probe_samples, max_errors))
    result = DrillResult(drill.name, ctx.target.env, ctx.cluster, started_utc.isoformat(timespec="seconds"),
                         ctx.clock.now(), ctx.parameters, ctx.rec, assertions, ctx.timings, ctx.notes)
    folder = opts.report_dir or default_dir(ctx.target.env, drill.name, started_utc)
    write_report(result, folder)
    return result, folder


def print_verdict(result: DrillResult, folder: Path) -> None:
    for a in result.assertions:
        output.status(output.OK if a.ok else output.FAIL, a.name, None, a.observed)
        for line in a.evidence:
            output.info(f"    {line}")
    verdict = "passed" if result.ok else "FAILED"
    output.status(output.OK if result.ok else output.FAIL, f"drill {result.drill} {verdict} on env {result.env}",
                  result.seconds, f"report: {folder}")
