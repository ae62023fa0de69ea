"""Milvus's runtime contract as validation rules: values a real Milvus 2.6/3.0 would not start or roll with.

Each rule is named, registered into validate.RULES and explains the problem in Milvus's terms.
The facts behind them, with their sources, are in docs/milvus-contract.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from deploytool.core.errors import Problem
from deploytool.render.components import active_components, remote_deps
from deploytool.render.validate import PROD_ENVS, rule
from deploytool.render.versions import is_3x, support_problem

# MinIO's first release with the S3 conditional writes woodpecker needs, as Milvus documents it
# (docs: adminGuide/use-woodpecker.md) and the official milvus-helm chart pins it.
MINIO_CONDITIONAL_WRITES = "RELEASE.2024-12-18T13-15-44Z"
_MINIO_RELEASE = re.compile(r"^RELEASE\.(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})Z")
# A build from the Go module proxy (the local cluster's MinIO image) is tagged with its Go
# pseudo-version, v0.0.0-<commit time, UTC, yyyymmddhhmmss>-<commit>: MinIO's RELEASE tags name the
# same kind of time, so the commit time orders it among them.
_GO_PSEUDO_VERSION = re.compile(r"^v0\.0\.0-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-[0-9a-f]{12}$")

# The preStop sleep the chart puts on these roles (milvus-operator: 30 s on proxy and standalone).
PRESTOP_SECONDS = {"proxy": 30, "standalone": 30}
LIVENESS_PATH = "/livez"
READINESS_PATH = "/healthz"
MIXCOORD_STANDBY_KEYS = ("rootCoord", "queryCoord", "dataCoord", "indexCoord")
MINIO_HA_MIN_REPLICAS = 4
MILVUS3_UID = 999
RULE_NAMES = ("milvus-version-supported", "woodpecker-conditional-writes", "mixcoord-exclusive-session",
              "liveness-not-deep", "readiness-healthz", "grace-covers-graceful-stop", "prod-object-storage-ha",
              "etcd-auth-explicit", "mq-type-explicit", "nonroot-volumes-writable")

# Which gracefulStopTimeout keys bound each role's shutdown (common.gracefulStopTimeout bounds the
# whole process; mixcoord stops its three coordinators one after another).
_ROLE_TIMEOUTS = {
    "proxy": ("proxy",),
    "mixcoord": ("coordinators", "coordinators", "coordinators"),
    "querynode": ("queryNode",),
    "datanode": ("dataNode",),
    "streamingnode": (),
    "standalone": (),
}
# Milvus config keys the chart writes from gracefulStopTimeout.*; config: must not override them.
_STOP_CONFIG_KEYS = {"common": "common", "proxy": "proxy", "rootCoord": "coordinators", "queryCoord": "coordinators",
                     "dataCoord": "coordinators", "queryNode": "queryNode", "dataNode": "dataNode"}


def _dig(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def milvus_tags(values: dict[str, Any]) -> dict[str, str]:
    """values path -> Milvus tag, for the global tag and every component's own tag."""
    tags = {"image.tag": str(_dig(values, "image", "tag") or "")}
    for comp in active_components(values):
        own = _dig(values, comp.key, "image", "tag") if comp.milvus else None
        if own:
            tags[f"{comp.key}.image.tag"] = str(own)
    return tags


@rule
def milvus_version_supported(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for path, tag in milvus_tags(values).items():
        problem = support_problem(tag)
        if problem:
            yield Problem(path, problem, "milvus-version-supported")


def minio_release(tag: str) -> tuple[int, ...] | None:
    m = _MINIO_RELEASE.match(tag) or _GO_PSEUDO_VERSION.match(tag)
    return tuple(int(g) for g in m.groups()) if m else None


@rule
def woodpecker_conditional_writes(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    mq = _dig(values, "messageQueue", "type")
    if mq != "woodpecker" or not remote_deps(values) or not _dig(values, "minio", "enabled"):
        return
    tag = str(_dig(values, "minio", "image", "tag") or "")
    have, need = minio_release(tag), minio_release(MINIO_CONDITIONAL_WRITES)
    why = ("woodpecker (mq.type woodpecker, storage minio) fences its WAL segments with S3 conditional writes "
           "(PUT with If-None-Match: *) and refuses to start when the object store does not support them, so every "
           "streamingnode would crash-loop at WAL start")
    if have is None:
        yield Problem("minio.image.tag", f"cannot tell whether MinIO '{tag}' supports conditional writes; {why}; pin "
                      f"a RELEASE.<date> tag >= {MINIO_CONDITIONAL_WRITES}", "woodpecker-conditional-writes")
    elif need is not None and have < need:
        yield Problem("minio.image.tag", f"MinIO {tag} predates {MINIO_CONDITIONAL_WRITES}: {why}",
                      "woodpecker-conditional-writes")


@rule
def mixcoord_exclusive_session(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    if values.get("mode") == "standalone":
        return
    spec = values.get("mixCoord") or {}
    config = values.get("config") or {}
    for key in MIXCOORD_STANDBY_KEYS:
        if isinstance(config.get(key), dict) and "enableActiveStandby" in config[key]:
            yield Problem(f"config.{key}.enableActiveStandby", "set mixCoord.activeStandby instead: the chart derives "
                          "every coordinator's enableActiveStandby and mixcoord's rollout strategy from it",
                          "mixcoord-exclusive-session")
    if spec.get("activeStandby"):
        return
    why = ("mixcoord holds an exclusive session in etcd: without active-standby a second mixcoord cannot register "
           "(it panics) and the rollout never completes; set mixCoord.activeStandby: true")
    hpa = spec.get("autoscaling") or {}
    if isinstance(spec.get("replicas"), int) and spec["replicas"] > 1 and not hpa.get("enabled"):
        yield Problem("mixCoord.replicas", f"{spec['replicas']} replicas: {why}", "mixcoord-exclusive-session")
    if hpa.get("enabled") and isinstance(hpa.get("maxReplicas"), int) and hpa["maxReplicas"] > 1:
        yield Problem("mixCoord.autoscaling", f"an HPA may scale mixcoord to {hpa['maxReplicas']} pods: {why}",
                      "mixcoord-exclusive-session")


@rule
def liveness_not_deep(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    liveness = _dig(values, "probes", "liveness", "path")
    if liveness is not None and liveness != LIVENESS_PATH:
        deep = " /healthz is Milvus's deep check (500 while any component is not Healthy or StandBy), so a " \
               "liveness probe on it restarts healthy pods whenever etcd or object storage blinks;" \
            if liveness == READINESS_PATH else ""
        yield Problem("probes.liveness.path", f"'{liveness}':{deep} Milvus's liveness endpoint is {LIVENESS_PATH} "
                      "(a process check, Milvus >= 2.6.7)", "liveness-not-deep")
    readiness = _dig(values, "probes", "readiness", "path")
    if readiness is not None and readiness != READINESS_PATH:
        yield Problem("probes.readiness.path", f"'{readiness}': readiness must be Milvus's {READINESS_PATH}, the only "
                      "endpoint that reports whether the pod's components are Healthy (or StandBy)",
                      "readiness-healthz")


def stop_bound(role: str, stop: dict[str, Any]) -> int:
    """Longest a role's process may take to stop gracefully: its own timeouts, capped by common's."""
    common = int(stop.get("common") or 0)
    own = [int(stop.get(k) or 0) for k in _ROLE_TIMEOUTS.get(role, ())]
    return min(common, sum(own)) if own else common


@rule
def grace_covers_graceful_stop(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    stop = values.get("gracefulStopTimeout") or {}
    config = values.get("config") or {}
    for section, knob in _STOP_CONFIG_KEYS.items():
        if isinstance(config.get(section), dict) and "gracefulStopTimeout" in config[section]:
            yield Problem(f"config.{section}.gracefulStopTimeout", f"set gracefulStopTimeout.{knob} instead: the "
                          "chart sizes each pod's terminationGracePeriodSeconds against it",
                          "grace-covers-graceful-stop")
    for comp in active_components(values):
        spec = values.get(comp.key)
        grace = spec.get("terminationGracePeriodSeconds") if isinstance(spec, dict) else None
        if not comp.milvus or not isinstance(grace, int):
            continue
        bound, pre = stop_bound(comp.name, stop), PRESTOP_SECONDS.get(comp.name, 0)
        if grace < bound + pre:
            extra = f" + its {pre} s preStop sleep" if pre else ""
            yield Problem(f"{comp.key}.terminationGracePeriodSeconds",
                          f"{grace} s is shorter than {comp.name}'s graceful stop ({bound} s from gracefulStopTimeout"
                          f"{extra}): Kubernetes would SIGKILL Milvus mid hand-off; raise it to >= {bound + pre} "
                          "or lower the timeout", "grace-covers-graceful-stop")


@rule
def prod_object_storage_ha(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    minio = values.get("minio") or {}
    if env not in PROD_ENVS or not remote_deps(values) or not minio.get("enabled"):
        return
    why = "the bundled MinIO holds every segment and the woodpecker WAL"
    if minio.get("mode") != "distributed":
        yield Problem("minio.mode", f"'{minio.get('mode')}' is one MinIO pod, a single point of failure: {why}; use "
                      f"mode distributed (>= {MINIO_HA_MIN_REPLICAS} replicas) or external S3",
                      "prod-object-storage-ha")
        return
    replicas = minio.get("replicas")
    if isinstance(replicas, int) and replicas < MINIO_HA_MIN_REPLICAS:
        yield Problem("minio.replicas", f"{replicas} MinIO pods cannot form an erasure set that survives losing one; "
                      f"{why}; use >= {MINIO_HA_MIN_REPLICAS}", "prod-object-storage-ha")
    if not (minio.get("pdb") or {}).get("enabled"):
        yield Problem("minio.pdb.enabled", f"a drain could take several MinIO pods at once; {why}",
                      "prod-object-storage-ha")
    if (minio.get("antiAffinity") or {}).get("type", "off") == "off":
        yield Problem("minio.antiAffinity.type", f"MinIO pods may all land on one node; {why}",
                      "prod-object-storage-ha")


@rule
def etcd_auth_explicit(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    auth = _dig(values, "config", "etcd", "auth")
    if isinstance(auth, dict) and auth:
        yield Problem("config.etcd.auth", "the chart sets etcd.auth.enabled: false explicitly (Milvus 3.0 turns etcd "
                      "auth on by default, user etcdadmin) because its etcd runs without auth; credentials in config: "
                      "would land in the ConfigMap", "etcd-auth-explicit")


@rule
def mq_type_explicit(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    if isinstance(_dig(values, "config", "mq"), dict) and "type" in values["config"]["mq"]:
        yield Problem("config.mq.type", "set messageQueue.type instead (the chart writes mq.type from it and derives "
                      "the WAL storage); mq.type is immutable once the coordinators have started", "mq-type-explicit")


@rule
def nonroot_volumes_writable(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    v3 = [path for path, tag in milvus_tags(values).items() if is_3x(tag)]
    if v3 and _dig(values, "podSecurityContext", "fsGroup") != MILVUS3_UID:
        yield Problem("podSecurityContext.fsGroup", f"{v3[0]} is Milvus 3, whose image runs as the non-root user "
                      f"milvus (uid {MILVUS3_UID}): without fsGroup {MILVUS3_UID} the standalone PVC and scratch "
                      "volumes are not writable and Milvus fails at start", "nonroot-volumes-writable")
