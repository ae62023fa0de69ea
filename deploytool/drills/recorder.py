"""The availability recorder: kubernetes watches on the release's objects, in threads, as samples.

One thread per kind -- Deployments, StatefulSets, Pods, EndpointSlices (of the client Service),
HPAs and Nodes -- each LISTs once, then WATCHes from that resourceVersion (re-watching every few
seconds so stop() is prompt; re-listing on 410 Gone). Every change becomes a sample with the
time since the drill started: per component desired/ready/available/updated replicas, per pod
node/phase/ready/terminating/image tag, ready endpoints, HPA current/desired, node readiness.
Listeners (the probe) are told about every pod sample.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from deploytool.core.conditions import is_ready, pod_ready
from deploytool.core.hpa import current_utilization
from deploytool.core.image_ref import image_tag
from deploytool.core.kube import Kube
from deploytool.core.labels import COMPONENT, release_selector
from deploytool.deploy.preflight import int_or_percent, rolling_bounds
from deploytool.drills.model import (
    EndpointSample,
    HpaSample,
    NodeSample,
    PodSample,
    Recording,
    WorkloadInfo,
    WorkloadSample,
)

SERVICE_LABEL = "kubernetes.io/service-name"
WATCH_SECONDS = 3


class Clock:
    """Seconds since the drill started (monotonic)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)


def workload_info(obj: Any, kind: str) -> WorkloadInfo:
    """Rolling-update budget and required anti-affinity of a Deployment or StatefulSet."""
    replicas = obj.spec.replicas or 0
    strategy = "RollingUpdate"
    if kind == "Deployment":
        bounds = rolling_bounds({"spec": {"strategy": _strategy_dict(obj.spec.strategy)}}, replicas)
        strategy, max_unavailable, max_surge = bounds.strategy, bounds.unavailable, bounds.surge
    else:
        rolling = obj.spec.update_strategy.rolling_update if obj.spec.update_strategy else None
        max_unavailable = int_or_percent(getattr(rolling, "max_unavailable", None) or 1, replicas, False)
        max_surge = 0
    affinity = obj.spec.template.spec.affinity
    anti = affinity.pod_anti_affinity if affinity else None
    terms = (anti.required_during_scheduling_ignored_during_execution if anti else None) or []
    preferred = (anti.preferred_during_scheduling_ignored_during_execution if anti else None) or []
    component = (obj.metadata.labels or {}).get(COMPONENT, obj.metadata.name)
    return WorkloadInfo(component, kind, obj.metadata.name, max_unavailable, max_surge,
                        terms[0].topology_key if terms else None, strategy=strategy,
                        preferred_anti_affinity_key=preferred[0].pod_affinity_term.topology_key if preferred else None)


def _strategy_dict(strategy: Any) -> dict[str, Any]:
    """A V1DeploymentStrategy as the manifest's `strategy` mapping (unset fields left out)."""
    if strategy is None:
        return {}
    found: dict[str, Any] = {"type": strategy.type} if strategy.type else {}
    rolling = strategy.rolling_update
    if rolling is not None:
        found["rollingUpdate"] = {k: v for k, v in (("maxSurge", rolling.max_surge),
                                                    ("maxUnavailable", rolling.max_unavailable)) if v is not None}
    return found


def _resource_version(obj: Any) -> str | None:
    if isinstance(obj, dict):
        return (obj.get("metadata") or {}).get("resourceVersion")
    return obj.metadata.resource_version if obj.metadata else None


class Recorder:
    def __init__(self, kube: Kube, namespace: str, release: str, service: str, clock: Clock,
                 recording: Recording | None = None) -> None:
        self.namespace = namespace
        self.release = release
        self.service = service
        self.clock = clock
        self.rec = recording or Recording()
        self.listeners: list[Callable[[PodSample], None]] = []
        self.watch_errors: list[str] = []
        self.requests = 0
        cfg = copy.copy(kube.api.configuration)
        cfg.connection_pool_maxsize = 16
        self._api = client.ApiClient(cfg)
        self._core = client.CoreV1Api(self._api)
        self._apps = client.AppsV1Api(self._api)
        self._hpa = client.AutoscalingV2Api(self._api)
        self._discovery = client.DiscoveryV1Api(self._api)
        self._policy = client.PolicyV1Api(self._api)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._last: dict[str, Any] = {}
        self._slices: dict[str, set[str]] = {}
        self.pods: dict[str, PodSample] = {}  # latest state of every live pod

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Recorder:
        selector = release_selector(self.release)
        self._read_infos(selector)
        ns = self.namespace
        feeds: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any], Callable[[str, Any], None]]] = [
            ("deployments", self._apps.list_namespaced_deployment, (ns,), {"label_selector": selector},
             lambda e, o: self._on_workload(e, o)),
            ("statefulsets", self._apps.list_namespaced_stateful_set, (ns,), {"label_selector": selector},
             lambda e, o: self._on_workload(e, o)),
            ("pods", self._core.list_namespaced_pod, (ns,), {"label_selector": selector}, self._on_pod),
            ("endpointslices", self._discovery.list_namespaced_endpoint_slice, (ns,),
             {"label_selector": f"{SERVICE_LABEL}={self.service}"}, self._on_slice),
            ("hpas", self._hpa.list_namespaced_horizontal_pod_autoscaler, (ns,), {}, self._on_hpa),
            ("nodes", self._core.list_node, (), {}, self._on_node),
        ]
        ready = []
        for name, lister, args, kwargs, handler in feeds:
            listed = threading.Event()
            ready.append(listed)
            thread = threading.Thread(target=self._loop, args=(name, lister, args, kwargs, handler, listed),
                                      name=f"drill-watch-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        for listed in ready:
            listed.wait(timeout=30)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_SECONDS + 10)
        self._api.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- watching ----------------------------------------------------------------------------
    def _read_infos(self, selector: str) -> None:
        replicas: dict[str, int] = {}
        for kind, lister in (("Deployment", self._apps.list_namespaced_deployment),
                             ("StatefulSet", self._apps.list_namespaced_stateful_set)):
            for obj in lister(self.namespace, label_selector=selector).items:
                info = workload_info(obj, kind)
                self.rec.workloads[info.component] = info
                replicas[info.component] = obj.spec.replicas or 0
        for pdb in self._policy.list_namespaced_pod_disruption_budget(self.namespace, label_selector=selector).items:
            component = (pdb.metadata.labels or {}).get(COMPONENT)
            if component in self.rec.workloads and pdb.spec.max_unavailable is not None:
                self.rec.workloads[component].pdb_max_unavailable = int_or_percent(
                    pdb.spec.max_unavailable, replicas[component], False)
        self.requests += 3

    def _loop(self, name: str, lister: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
              handler: Callable[[str, Any], None], listed: threading.Event) -> None:
        version = None
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = lister(*args, _request_timeout=30, **kwargs)
                    self.requests += 1
                    for item in listing.items:
                        handler("ADDED", item)
                    version = listing.metadata.resource_version
                    listed.set()
                stream = watch.Watch()
                self.requests += 1
                for event in stream.stream(lister, *args, resource_version=version, timeout_seconds=WATCH_SECONDS,
                                           allow_watch_bookmarks=True, _request_timeout=WATCH_SECONDS + 10,
                                           **kwargs):
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        code = obj.get("code") if isinstance(obj, dict) else getattr(obj, "code", None)
                        version = None if code == 410 else version
                        break
                    version = _resource_version(obj) or version
                    if event["type"] != "BOOKMARK" and not isinstance(obj, dict):
                        handler(event["type"], obj)
                    if self._stop.is_set():
                        stream.stop()
                        break
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                self.watch_errors.append(f"{name}: {exc.status} {exc.reason}")
                self._stop.wait(1.0)
            except (HTTPError, OSError, ValueError) as exc:
                self.watch_errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
                self._stop.wait(1.0)
        listed.set()

    def _changed(self, key: str, value: Any) -> bool:
        with self._lock:
            if self._last.get(key) == value:
                return False
            self._last[key] = value
            return True

    # -- handlers ----------------------------------------------------------------------------
    def _on_workload(self, event: str, obj: Any) -> None:
        if event == "DELETED":
            return
        component = (obj.metadata.labels or {}).get(COMPONENT, obj.metadata.name)
        st = obj.status
        values = (obj.spec.replicas or 0, st.ready_replicas or 0, st.available_replicas or 0,
                  st.updated_replicas or 0, st.replicas or 0)
        if self._changed(f"workload/{component}", values):
            self.rec.workload_samples.append(WorkloadSample(self.clock.now(), component, *values))

    def _on_pod(self, event: str, pod: Any) -> None:
        labels = pod.metadata.labels or {}
        containers = pod.spec.containers or []
        sample = PodSample(self.clock.now(), pod.metadata.name, labels.get(COMPONENT, ""),
                           pod.spec.node_name or "", pod.status.phase or "", pod_ready(pod),
                           pod.metadata.deletion_timestamp is not None, event == "DELETED",
                           image_tag(containers[0].image) if containers else "")
        key = (sample.node, sample.phase, sample.ready, sample.terminating, sample.deleted, sample.tag)
        if not self._changed(f"pod/{sample.pod}", key):
            return
        self.rec.pod_samples.append(sample)
        with self._lock:
            if sample.deleted:
                self.pods.pop(sample.pod, None)
            else:
                self.pods[sample.pod] = sample
        for listener in list(self.listeners):
            try:
                listener(sample)
            except Exception as exc:  # noqa: BLE001 - a listener must never stop the recorder
                self.watch_errors.append(f"pod listener: {type(exc).__name__}: {exc}")

    def _on_slice(self, event: str, eps: Any) -> None:
        ready: set[str] = set()
        if event != "DELETED":
            for ep in eps.endpoints or []:
                if ep.conditions is None or ep.conditions.ready is not False:
                    ready.update(ep.addresses or [])
        with self._lock:
            self._slices[eps.metadata.name] = ready
            total = len(set().union(*self._slices.values())) if self._slices else 0
        if self._changed(f"endpoints/{self.service}", total):
            self.rec.endpoint_samples.append(EndpointSample(self.clock.now(), self.service, total))

    def _on_hpa(self, event: str, hpa: Any) -> None:
        if event == "DELETED" or hpa.status is None:
            return
        values = (hpa.status.current_replicas or 0, hpa.status.desired_replicas or 0,
                  current_utilization(hpa).get("cpu"))
        if not values[1]:
            return  # not computed yet (no metrics): an HPA never wants 0 replicas
        if self._changed(f"hpa/{hpa.metadata.name}", values):
            self.rec.hpa_samples.append(HpaSample(self.clock.now(), hpa.metadata.name, *values))

    def _on_node(self, event: str, node: Any) -> None:
        if event == "DELETED":
            return
        name = node.metadata.name
        self.rec.node_labels[name] = dict(node.metadata.labels or {})
        ready = is_ready(node)
        taints = sorted(f"{t.key}:{t.effect}" for t in node.spec.taints or [])
        reason = next((c.reason or "" for c in node.status.conditions or [] if c.type == "Ready"), "")
        values = (ready, bool(node.spec.unschedulable), tuple(taints), reason)
        if self._changed(f"node/{name}", values):
            self.rec.node_samples.append(NodeSample(self.clock.now(), name, ready, bool(node.spec.unschedulable),
                                                    taints, reason))

    # -- queries for the drills --------------------------------------------------------------
    def live_pods(self, component: str | None = None) -> list[PodSample]:
        with self._lock:
            pods = list(self.pods.values())
        return sorted((p for p in pods if component is None or p.component == component), key=lambda p: p.pod)
