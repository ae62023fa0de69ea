"""The Service as a stable endpoint, and configuration vs credentials (ConfigMap vs Secret)."""

from __future__ import annotations

import re

from deploytool.deploy.checks.expected import milvus_components
from deploytool.deploy.credentials import ACCESS_KEY, SECRET_KEY
from deploytool.deploy.snapshot import Pod, Snapshot
from deploytool.deploy.verify import FAIL, PASS, Result, config_checksum
from deploytool.render.components import endpoint_component
from deploytool.render.manifests import Rendered

CREDENTIAL_KEYS = re.compile(r"(accesskeyid|secretaccesskey|password|secret_key|access_key)\s*:", re.I)
MILVUS_ENV = ("MINIO_ACCESS_KEY_ID", "MINIO_SECRET_ACCESS_KEY")


def ready_endpoint_ips(snap: Snapshot, service: str) -> set[str]:
    """Addresses of the Service's EndpointSlices whose `ready` condition is not False."""
    return {address for es in snap.endpoint_slices if es.service == service
            for ep in es.endpoints if ep.ready is not False for address in ep.addresses}


def check_service(expected: Rendered, snap: Snapshot) -> Result:
    name = expected.target.fullname
    svc = snap.services.get(name)
    if svc is None:
        return Result("service", FAIL, [f"Service {name} missing"], "re-run `deploytool up`")
    component = endpoint_component(expected.values)
    ready_ips = {p.pod_ip for p in snap.pods_of(component) if p.serving and p.pod_ip}
    endpoint_ips = ready_endpoint_ips(snap, name)
    ports = ", ".join(f"{p.name} {p.port}" for p in svc.ports)
    dns = f"{name}.{snap.namespace}.svc.cluster.local"
    evidence = [f"{dns} ({svc.type}, {ports}) -> {len(endpoint_ips)} ready endpoint(s)"]
    if endpoint_ips != ready_ips or not ready_ips:
        missing, extra = sorted(ready_ips - endpoint_ips), sorted(endpoint_ips - ready_ips)
        return Result("service", FAIL, evidence + [
            f"Service {name}: ready {component} pods {sorted(ready_ips)}, endpoints {sorted(endpoint_ips)} "
            f"(missing {missing}, extra {extra})"], "check the Service selector and the pods' readiness")
    return Result("service", PASS, evidence + [f"endpoints are exactly the {len(ready_ips)} ready {component} pods"])


def _configmap(snap: Snapshot, cm_name: str) -> tuple[str | None, list[str]]:
    """The checksum of the release ConfigMap's user.yaml, or the problem."""
    cm = snap.configmaps.get(cm_name)
    if cm is None or "user.yaml" not in cm.data:
        return None, [f"ConfigMap {cm_name} missing or without user.yaml"]
    return config_checksum(cm.data["user.yaml"]), []


def _secret(snap: Snapshot, secret_name: str) -> tuple[list[str], list[str]]:
    """(problems, evidence) for the credentials Secret: present, with both keys."""
    secret = snap.secrets.get(secret_name)
    if secret is None:
        return [f"Secret {secret_name} missing"], []
    bad = []
    if not {ACCESS_KEY, SECRET_KEY} <= set(secret.keys):
        bad.append(f"Secret {secret_name} has keys {sorted(secret.keys)}, expected {ACCESS_KEY} and {SECRET_KEY}")
    return bad, [f"Secret {secret_name} holds {sorted(secret.keys)}"]


def _pod_problems(pod: Pod, cm_name: str, checksum: str | None, secret_name: str) -> list[str]:
    """A Milvus pod runs the current config and reads its credentials from the Secret."""
    bad = []
    annotation = pod.annotations.get("checksum/config")
    if checksum and annotation != checksum:
        bad.append(f"pod {pod.name} runs config {str(annotation)[:12]}…, "
                   f"ConfigMap {cm_name} is {checksum[:12]}… (stale config)")
    if cm_name not in pod.config_map_volumes:
        bad.append(f"pod {pod.name} does not mount ConfigMap {cm_name}")
    env = {var: secret for c in pod.containers for var, secret in c.secret_env.items()}
    bad += [f"pod {pod.name}: {var} is not read from Secret {secret_name}"
            for var in MILVUS_ENV if env.get(var) != secret_name]
    return bad


def _leaks(snap: Snapshot) -> list[str]:
    """ConfigMap keys that hold a Secret's value or a credential field (the value is never shown)."""
    bad = []
    for name, cm in sorted(snap.configmaps.items()):
        for key, value in cm.data.items():
            if cm.secret_values_in.get(key):
                bad += [f"ConfigMap {name} key {key} contains a credential value from Secret {secret}"
                        for secret in cm.secret_values_in[key]]
            elif CREDENTIAL_KEYS.search(value or ""):
                bad.append(f"ConfigMap {name} key {key} has a credential field")
    return bad


def check_config_and_secret(expected: Rendered, snap: Snapshot) -> Result:
    cm_name, secret_name = f"{expected.target.fullname}-config", expected.target.secret_name
    checksum, bad = _configmap(snap, cm_name)
    secret_bad, good = _secret(snap, secret_name)
    bad += secret_bad
    pods = [p for c in milvus_components(expected) for p in snap.pods_of(c)]
    for pod in pods:
        bad += _pod_problems(pod, cm_name, checksum, secret_name)
    if pods and checksum:
        good.append(f"{len(pods)} Milvus pods mount {cm_name} at checksum {checksum[:12]}… and read "
                    f"credentials from {secret_name}")
    bad += _leaks(snap)
    if bad:
        return Result("config-and-secret", FAIL, bad,
                      "re-run `deploytool up` (it rolls pods on config change); move credentials into the Secret")
    return Result("config-and-secret", PASS, good + ["no ConfigMap holds a credential value"])
