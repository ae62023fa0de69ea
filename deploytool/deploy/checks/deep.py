"""`verify --deep`: actions on the live cluster that follow a passed check (not pure: they delete
a pod and watch it come back)."""

from __future__ import annotations

import time

from deploytool.core.conditions import pod_ready
from deploytool.core.kube import Kube
from deploytool.deploy.checks.workloads import claim_templates
from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.verify import FAIL, Result
from deploytool.render.manifests import Rendered

RETURN_TIMEOUT_S = 180


def deep_identity(kube: Kube, expected: Rendered, snap: Snapshot, result: Result) -> Result:
    """Delete the last pod of each StatefulSet and show it returns with the same name and PVCs."""
    for obj in expected.by_kind("StatefulSet"):
        name = obj["metadata"]["name"]
        live = snap.statefulsets.get(name)
        if live is None or not live.replicas:
            continue
        try:
            result.evidence.append(_delete_and_watch_return(kube, snap.namespace, f"{name}-{live.replicas - 1}",
                                                            claim_templates(obj)))
        except AssertionError as exc:
            result.evidence.insert(0, f"deep: {exc}")
            result.status, result.fix = FAIL, "check the StorageClass / provisioner and the pod events"
            break
    return result


def _delete_and_watch_return(kube: Kube, ns: str, pod_name: str, templates: list[str]) -> str:
    core = kube.core
    old = core.read_namespaced_pod(pod_name, ns)
    pvc_uids = {t: core.read_namespaced_persistent_volume_claim(f"{t}-{pod_name}", ns).metadata.uid for t in templates}
    core.delete_namespaced_pod(pod_name, ns)
    deadline = time.monotonic() + RETURN_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(2)
        try:
            pod = core.read_namespaced_pod(pod_name, ns)
        except Exception:  # noqa: BLE001 - absent while being recreated
            continue
        if pod.metadata.uid != old.metadata.uid and pod_ready(pod):
            claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes or [] if v.persistent_volume_claim}
            now = {t: core.read_namespaced_persistent_volume_claim(f"{t}-{pod_name}", ns).metadata.uid
                   for t in templates}
            if now != pvc_uids or claims != {f"{t}-{pod_name}" for t in templates}:
                raise AssertionError(f"{pod_name} came back with other storage: {claims}")
            return (f"deep: deleted {pod_name}; it returned as {pod_name} (new uid) on {pod.spec.node_name} "
                    f"with the same PVC(s) {sorted(claims)}")
    raise AssertionError(f"{pod_name} did not return ready within {RETURN_TIMEOUT_S}s after deletion")
