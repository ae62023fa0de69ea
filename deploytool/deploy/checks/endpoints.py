"""The Service as a stable endpoint, and configuration vs credentials (ConfigMap vs Secret)."""

from __future__ import annotations

import base64
import re

from deploytool.core.conditions import pod_ready
from deploytool.deploy.credentials import ACCESS_KEY, SECRET_KEY
from deploytool.deploy.verify import FAIL, PASS, Result, VerifyContext, config_checksum
from deploytool.render.components import endpoint_component

CREDENTIAL_KEYS = re.compile(r"(accesskeyid|secretaccesskey|password|secret_key|access_key)\s*:", re.I)
MILVUS_ENV = ("MINIO_ACCESS_KEY_ID", "MINIO_SECRET_ACCESS_KEY")


def check_service(ctx: VerifyContext) -> Result:
    snap = ctx.snapshot
    name = ctx.snapshot.target.fullname
    svc = snap.services.get(name)
    if svc is None:
        return Result("service", FAIL, [f"Service {name} missing"], "re-run `deploytool up`")
    component = endpoint_component(ctx.expected.values)
    ready_ips = {p.status.pod_ip for p in snap.pods_of(component) if pod_ready(p) and p.status.pod_ip}
    endpoint_ips: set[str] = set()
    for es in snap.endpoint_slices:
        if (es.metadata.labels or {}).get("kubernetes.io/service-name") != name:
            continue
        for ep in es.endpoints or []:
            if ep.conditions is None or ep.conditions.ready is not False:
                endpoint_ips.update(ep.addresses or [])
    ports = ", ".join(f"{p.name} {p.port}" for p in svc.spec.ports or [])
    dns = f"{name}.{snap.ns}.svc.cluster.local"
    evidence = [f"{dns} ({svc.spec.type}, {ports}) -> {len(endpoint_ips)} ready endpoint(s)"]
    if endpoint_ips != ready_ips or not ready_ips:
        missing, extra = sorted(ready_ips - endpoint_ips), sorted(endpoint_ips - ready_ips)
        return Result("service", FAIL, evidence + [
            f"Service {name}: ready {component} pods {sorted(ready_ips)}, endpoints {sorted(endpoint_ips)} "
            f"(missing {missing}, extra {extra})"], "check the Service selector and the pods' readiness")
    return Result("service", PASS, evidence + [f"endpoints are exactly the {len(ready_ips)} ready {component} pods"])


def check_config_and_secret(ctx: VerifyContext) -> Result:
    snap, bad, good = ctx.snapshot, [], []
    cm_name, secret_name = f"{snap.target.fullname}-config", snap.target.secret_name
    cm = snap.configmaps.get(cm_name)
    if cm is None or "user.yaml" not in (cm.data or {}):
        bad.append(f"ConfigMap {cm_name} missing or without user.yaml")
        checksum = None
    else:
        checksum = config_checksum(cm.data["user.yaml"])
    secret = snap.secrets.get(secret_name)
    secret_values: list[str] = []
    if secret is None:
        bad.append(f"Secret {secret_name} missing")
    else:
        keys = set((secret.data or {}).keys())
        if not {ACCESS_KEY, SECRET_KEY} <= keys:
            bad.append(f"Secret {secret_name} has keys {sorted(keys)}, expected {ACCESS_KEY} and {SECRET_KEY}")
        secret_values = [base64.b64decode(v).decode(errors="replace") for v in (secret.data or {}).values()]
        good.append(f"Secret {secret_name} holds {sorted(keys)}")
    milvus_components = {o["metadata"]["labels"]["app.kubernetes.io/component"]
                         for o in ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet")
                         if o["metadata"]["labels"]["app.kubernetes.io/component"] not in ("etcd", "minio")}
    pods = [p for c in sorted(milvus_components) for p in snap.pods_of(c)]
    for pod in pods:
        annotation = (pod.metadata.annotations or {}).get("checksum/config")
        if checksum and annotation != checksum:
            bad.append(f"pod {pod.metadata.name} runs config {str(annotation)[:12]}…, "
                       f"ConfigMap {cm_name} is {checksum[:12]}… (stale config)")
        mounts = {v.config_map.name for v in pod.spec.volumes or [] if v.config_map}
        if cm_name not in mounts:
            bad.append(f"pod {pod.metadata.name} does not mount ConfigMap {cm_name}")
        env = {e.name: e for c in pod.spec.containers for e in c.env or []}
        for var in MILVUS_ENV:
            ref = env[var].value_from.secret_key_ref if var in env and env[var].value_from else None
            if ref is None or ref.name != secret_name:
                bad.append(f"pod {pod.metadata.name}: {var} is not read from Secret {secret_name}")
    if pods and checksum:
        good.append(f"{len(pods)} Milvus pods mount {cm_name} at checksum {checksum[:12]}… and read "
                    f"credentials from {secret_name}")
    for name, other in sorted(snap.configmaps.items()):
        for key, value in (other.data or {}).items():
            if any(len(v) >= 4 and v in value for v in secret_values):
                bad.append(f"ConfigMap {name} key {key} contains a credential value from Secret {secret_name}")
            elif CREDENTIAL_KEYS.search(value or ""):
                bad.append(f"ConfigMap {name} key {key} has a credential field")
    if bad:
        return Result("config-and-secret", FAIL, bad,
                      "re-run `deploytool up` (it rolls pods on config change); move credentials into the Secret")
    return Result("config-and-secret", PASS, good + ["no ConfigMap holds a credential value"])
