"""drill autoscale: drive a component's HPA up with CPU load, then back down to its minimum.

Load: on simulated nodes (kwok) the component's CPU usage is simulated -- a total demand of
usage% x request x the starting replica count, spread evenly over the ready pods
(ctx.faults.drive_cpu; kwok reports it, metrics-server scrapes it, the real HPA controller
decides); on real nodes (kind) a pymilvus load generator (loadgen.py) searches as fast as it
can. For the drill only, the HPA's behavior gets short stabilization windows (restored
afterwards, whatever happens).

Expected replicas follow the HPA algorithm: ceil(current x usage / target), unchanged within the
10% tolerance, clamped to [min, max]. With required anti-affinity, replicas beyond the number of
schedulable nodes stay Pending: the assertions are on the HPA's desired count and the
Deployment's spec.replicas; ready replicas are reported beside them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import SIMULATED, node_kind
from deploytool.core import quantity
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput
from deploytool.core.hpa import target_utilization
from deploytool.core.labels import component_selector
from deploytool.drills.checks import expected_hpa_replicas, first_time, series
from deploytool.drills.model import Assertion
from deploytool.drills.runner import Drill, DrillContext

SHORT_BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 900, "periodSeconds": 15},
                             {"type": "Pods", "value": 20, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 10, "selectPolicy": "Max",
                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
}


class _LoadKeeper(threading.Thread):
    """Simulated pods: keep each ready pod's simulated CPU at its share of the demand."""

    def __init__(self, ctx: DrillContext, component: str) -> None:
        super().__init__(name="drill-load", daemon=True)
        self.ctx, self.component = ctx, component
        self.total_millis = 0.0
        self.per_pod_millis: float | None = None  # set: a fixed usage per pod instead of a shared total
        self._stop_event = threading.Event()
        self._set: dict[str, int] = {}

    def apply(self) -> None:
        assert self.ctx.recorder is not None
        pods = [p.pod for p in self.ctx.recorder.live_pods(self.component) if p.ready and not p.terminating]
        if not pods:
            return
        each = self.per_pod_millis if self.per_pod_millis is not None else self.total_millis / len(pods)
        wanted = {p: int(each) for p in pods if self._set.get(p) != int(each)}
        if wanted:
            self.ctx.faults.drive_cpu(self.ctx.target.namespace, wanted)
            self._set.update(wanted)

    def run(self) -> None:
        while not self._stop_event.wait(2.0):
            try:
                self.apply()
            except Exception as exc:  # noqa: BLE001 - keep the load on; report once
                self.ctx.notes.append(f"load keeper: {type(exc).__name__}: {exc}")
                self._stop_event.wait(2.0)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class AutoscaleDrill(Drill):
    name = "autoscale"

    def __init__(self, component: str = "proxy", usage_percent: float = 140.0, low_percent: float = 10.0) -> None:
        self.component = component
        self.usage = usage_percent
        self.low = low_percent
        self.hpa = ""
        self.saved_behavior: Any = None
        self.patched = False
        self.keeper: _LoadKeeper | None = None
        self.loadgen: Any = None
        self.expected_up = 0
        self.min = self.max = self.start_replicas = 0
        self.target = 0.0
        self.capacity = 0
        self.request_millis = 0.0
        self.simulated = False  # the component's pods are simulated: their CPU usage is set, not caused

    def plan(self, ctx: DrillContext) -> None:
        if self.usage <= 0 or self.low < 0:
            raise BadInput("--usage must be > 0 and --low-usage >= 0 (percent of the CPU request)")
        self.hpa = f"{ctx.target.fullname}-{self.component}"
        try:
            hpa = ctx.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler(self.hpa, ctx.target.namespace)
        except ApiException:
            raise BadInput(f"component {self.component} of env {ctx.target.env} has no HPA {self.hpa} "
                           f"({self.component}.autoscaling.enabled is false?)") from None
        cpu_target = target_utilization(hpa).get("cpu")
        if cpu_target is None:
            raise BadInput(f"HPA {self.hpa} has no CPU utilization target")
        self.target = float(cpu_target)
        self.min, self.max = hpa.spec.min_replicas or 1, hpa.spec.max_replicas
        dep = ctx.kube.apps.read_namespaced_deployment(hpa.spec.scale_target_ref.name, ctx.target.namespace)
        self.start_replicas = dep.spec.replicas or 0
        self.request_millis = float(sum(quantity.parse(((c.resources.requests or {}) if c.resources else {})
                                                       .get("cpu", "0")) for c in dep.spec.template.spec.containers)
                                    * 1000)
        if self.request_millis <= 0:
            raise BadInput(f"{dep.metadata.name} has no CPU request: utilization is undefined")
        anti = dep.spec.template.spec.affinity.pod_anti_affinity if dep.spec.template.spec.affinity else None
        nodes = [n for n in ctx.kube.core.list_node().items if not n.spec.unschedulable and is_ready(n)]
        found = sorted({node_kind(n.metadata.labels, ctx.conn.info.default_node_kind) for n in nodes})
        if len(found) > 1:
            raise BadInput(f"the autoscale drill drives either simulated or real CPU load, and {self.component} "
                           f"pods may land on both kinds of node here ({', '.join(found)})")
        self.simulated = found == [SIMULATED]
        self.capacity = len(nodes) if anti and anti.required_during_scheduling_ignored_during_execution else self.max
        self.expected_up = expected_hpa_replicas(self.start_replicas, self.usage, self.target, self.min, self.max)
        ctx.parameters.update(component=self.component, hpa=self.hpa, usage_percent=self.usage,
                              low_usage_percent=self.low, target_percent=self.target, min=self.min, max=self.max,
                              start_replicas=self.start_replicas, expected_up=self.expected_up,
                              schedulable_capacity=self.capacity, behavior_during_drill=SHORT_BEHAVIOR)
        note = (f"expected: ceil({self.start_replicas} x {self.usage:g}% / {self.target:g}%) = {self.expected_up} "
                f"(clamped to [{self.min}, {self.max}])")
        if self.capacity < self.max:
            note += f"; at most {self.capacity} can be ready (one per node: required anti-affinity)"
        ctx.notes.append(note)
        if self.simulated:
            ctx.notes.append("simulated: pod CPU usage (kwok annotation kwok.x-k8s.io/usage-cpu); metrics-server "
                             "and the HPA controller are real")

    def _hpa_desired(self, ctx: DrillContext) -> int:
        hpa = ctx.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler(self.hpa, ctx.target.namespace)
        return int(hpa.status.desired_replicas or 0) if hpa.status else 0

    def run(self, ctx: DrillContext) -> None:
        hpa = ctx.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler(self.hpa, ctx.target.namespace)
        self.saved_behavior = ctx.kube.api.sanitize_for_serialization(hpa.spec.behavior) if hpa.spec.behavior else None
        ctx.kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            self.hpa, ctx.target.namespace, {"spec": {"behavior": SHORT_BEHAVIOR}})
        self.patched = True
        ctx.phase("HPA windows shortened", "scale-up 0s, scale-down 10s (restored at the end)")
        timeout = ctx.options.timeout_s
        started = time.monotonic()
        if self.simulated:
            self.keeper = _LoadKeeper(ctx, self.component)
            self.keeper.total_millis = self.usage / 100 * self.request_millis * self.start_replicas
            self.keeper.apply()
            self.keeper.start()
            detail = (f"{self.keeper.total_millis:.0f}m CPU demand ({self.usage:g}% of {self.start_replicas} "
                      "requests) spread over the ready pods")
        else:
            from deploytool.drills.loadgen import LoadGenerator

            self.loadgen = LoadGenerator(ctx.kube, ctx.target.namespace, ctx.target.release, ctx.endpoint).start()
            detail = f"pymilvus load generator, {self.loadgen.workers} workers"
        ctx.phase("load high", detail)
        up = ctx.wait(lambda: self._hpa_desired(ctx) >= self.expected_up, timeout, interval=2.0)
        ctx.timings["scale up (HPA desired reached expected)"] = time.monotonic() - started
        ready_target = min(self.expected_up, self.capacity)
        ctx.wait(lambda: any(w.component == self.component and w.ready >= ready_target for w in ctx.workloads()),
                 60, interval=2.0)
        ctx.phase("scaled up" if up else "did not scale up", f"HPA desired {self._hpa_desired(ctx)}")
        started = time.monotonic()
        if self.keeper is not None:
            self.keeper.per_pod_millis = self.low / 100 * self.request_millis
            self.keeper.apply()
        elif self.loadgen is not None:
            self.loadgen.stop()
        ctx.phase("load low", f"{self.low:g}% of the request per pod")
        down = ctx.wait(lambda: any(w.component == self.component and w.desired == w.ready == w.available == self.min
                                    for w in ctx.workloads()) and self._hpa_desired(ctx) == self.min,
                        timeout, interval=2.0)
        ctx.timings["scale down (back to min)"] = time.monotonic() - started
        ctx.phase("scaled down" if down else "did not scale down", f"HPA desired {self._hpa_desired(ctx)}")

    def restore(self, ctx: DrillContext) -> None:
        if self.keeper is not None:
            self.keeper.stop()
        if self.loadgen is not None:
            self.loadgen.stop()
        if self.simulated:
            ctx.faults.stop_cpu(ctx.target.namespace, component_selector(ctx.target.release, self.component))
        if self.patched:
            patch = ([{"op": "replace", "path": "/spec/behavior", "value": self.saved_behavior}]
                     if self.saved_behavior else [{"op": "remove", "path": "/spec/behavior"}])
            try:
                ctx.kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler(self.hpa, ctx.target.namespace, patch)
            except ApiException as exc:
                if exc.status != 422:  # 422: nothing to remove (someone reset it already)
                    raise
            ctx.phase("HPA behavior restored")

    def assertions(self, ctx: DrillContext) -> list[Assertion]:
        rec = ctx.rec
        t_high = rec.phase_time("load high") or 0.0
        t_low = rec.phase_time("load low")
        timeout = ctx.options.timeout_s
        t_up = first_time(rec, self.hpa, lambda h: h.desired >= self.expected_up, t_high)
        dep = [s for s in series(rec, self.component) if s.t >= t_high and (t_low is None or s.t <= t_low)]
        spec_max = max((s.desired for s in dep), default=0)
        ready_max = max((s.ready for s in dep), default=0)
        peak = max((h.desired for h in rec.hpa_samples if h.name == self.hpa and h.t >= t_high), default=0)
        up_ok = t_up is not None and t_up - t_high <= timeout and spec_max >= self.expected_up
        found = [Assertion(
            "scaled up to the expected replicas", up_ok,
            f"HPA desired and Deployment spec.replicas reach {self.expected_up} within {timeout}s",
            (f"HPA desired {self.expected_up} after {t_up - t_high:.1f}s (peak {peak}); spec.replicas max {spec_max}"
             if t_up is not None else f"HPA desired peaked at {peak}; spec.replicas max {spec_max}"),
            [f"ready replicas max {ready_max}: at most {self.capacity} schedulable (required anti-affinity), "
             f"{max(0, spec_max - ready_max)} Pending" if self.capacity < spec_max else
             f"ready replicas max {ready_max}"])]
        t_min = None
        if t_low is not None:
            t_min = next((s.t for s in series(rec, self.component) if s.t >= t_low
                          and s.desired == s.ready == s.available == self.min), None)
        down_ok = t_min is not None and t_low is not None and t_min - t_low <= timeout
        found.append(Assertion(
            "scaled back to min", down_ok, f"spec.replicas, ready and available back at {self.min} within {timeout}s",
            f"back at {self.min} after {t_min - t_low:.1f}s" if down_ok and t_min is not None and t_low is not None
            else "did not return to min"))
        return found
