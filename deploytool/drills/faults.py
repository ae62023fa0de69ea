"""The faults the drills inject, per provider.

local (kwok: simulated nodes and pods)
* broken image tag -- kwok marks every pod Ready whatever its image, and its stages come from a
  config file fixed at cluster creation (the Stage CRD is not enabled), so the drill installs a
  ValidatingAdmissionPolicy (CEL, in the real kube-apiserver) that refuses pods whose image tag
  ends in "-broken": the new ReplicaSet never gets a pod, like a tag that cannot be pulled.
* node failure -- deploytool.clusters.local.nodes.set_node_failed: kwok stops heartbeating the
  node; the real kube-controller-manager marks it NotReady and its pods not Ready.
* CPU usage -- the kwok ClusterResourceUsage the provider installs reads the pod annotation
  kwok.x-k8s.io/usage-cpu; metrics-server scrapes it; the real HPA controller acts on it.
kind (real kubelets, containerd): a tag that does not exist fails by itself; a node fails with
`docker stop <node>`; CPU load comes from deploytool.drills.loadgen (pymilvus searches).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.local.milvus import USAGE_CPU_ANNOTATION  # read by the provider's ClusterResourceUsage
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput, CommandFailed
from deploytool.core.kube import Kube

BROKEN_SUFFIX = "-broken"
POLICY = "deploytool-drill-broken-image"


# -- broken image (local) ------------------------------------------------------------------------

def broken_image_policy(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY, "labels": {"app.kubernetes.io/managed-by": "deploytool"}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                    "operations": ["CREATE"], "resources": ["pods"]}]},
            "validations": [{
                "expression": f"object.spec.containers.all(c, !c.image.endsWith('{BROKEN_SUFFIX}'))",
                "messageExpression": ("'image ' + object.spec.containers.filter(c, c.image.endsWith('"
                                      + BROKEN_SUFFIX + "'))[0].image + ' cannot start "
                                      "(deploytool drill: simulated broken tag)'"),
                "reason": "Invalid",
            }],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY, "labels": {"app.kubernetes.io/managed-by": "deploytool"}},
        "spec": {"policyName": POLICY, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": namespace}}}},
    }
    return policy, binding


def install_broken_image_policy(kube: Kube, namespace: str, timeout_s: float = 30) -> str:
    api = client.AdmissionregistrationV1Api(kube.api)
    remove_broken_image_policy(kube)
    policy, binding = broken_image_policy(namespace)
    api.create_validating_admission_policy(policy)
    api.create_validating_admission_policy_binding(binding)
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deploytool-policy-check"},
             "spec": {"containers": [{"name": "c", "image": f"example.invalid/check:x{BROKEN_SUFFIX}"}]}}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # the policy takes a moment to be compiled and enforced
        try:
            kube.core.create_namespaced_pod(namespace, probe, dry_run="All")
        except ApiException as exc:
            if exc.status in (400, 403, 422) and "simulated broken tag" in str(exc.body):
                return f"pods with an image tag ending in {BROKEN_SUFFIX} are refused at admission"
        time.sleep(1)
    raise CommandFailed(["install-policy", POLICY], 1, f"the policy was not enforced within {timeout_s:.0f}s")


def remove_broken_image_policy(kube: Kube) -> None:
    api = client.AdmissionregistrationV1Api(kube.api)
    for delete in (api.delete_validating_admission_policy_binding, api.delete_validating_admission_policy):
        try:
            delete(POLICY)
        except ApiException as exc:
            if exc.status != 404:
                raise


# -- node failure --------------------------------------------------------------------------------

def check_node_failure_supported(provider: str) -> None:
    if provider not in ("local", "kind"):
        raise BadInput(f"drill node-failure stops a node, which deploytool can do only on clusters it made "
                       f"(--provider local or kind), not on provider '{provider}'")


def set_node_failed(kube: Kube, provider: str, node: str, failed: bool) -> str:
    """Fail a node (failed=True) or bring it back: kwok heartbeats on local, docker stop/start on kind."""
    if provider == "local":
        from deploytool.clusters.local.nodes import set_node_failed as set_kwok_node_failed

        set_kwok_node_failed(client.CoordinationV1Api(kube.api), node, failed)
        return ("kwok stops heartbeating it (its Lease is taken over); pods on it are no longer reported"
                if failed else "kwok heartbeats it again")
    _docker(["stop" if failed else "start", node])
    return f"docker stop {node}: kubelet and containers stopped" if failed else f"docker start {node}"


def _docker(args: list[str]) -> None:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise CommandFailed(["docker", *args], proc.returncode, proc.stderr or proc.stdout)


def cordon(kube: Kube, node: str, unschedulable: bool = True) -> None:
    kube.core.patch_node(node, {"spec": {"unschedulable": unschedulable}})


def node_ready(kube: Kube, node: str) -> bool:
    return is_ready(kube.core.read_node(node))


@dataclass
class DrainResult:
    evicted: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # PDB said no (429) at least once
    force_deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        parts = [f"{len(self.evicted)} evicted via the Eviction API"]
        if self.blocked:
            parts.append(f"{len(self.blocked)} held back by a PDB at first ({', '.join(self.blocked)})")
        if self.force_deleted:
            parts.append(f"{len(self.force_deleted)} force-deleted after the bound ({', '.join(self.force_deleted)})")
        return "; ".join(parts)


def _pods_on(kube: Kube, node: str) -> list[Any]:
    pods = kube.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    return [p for p in pods if not any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])]


def drain(kube: Kube, node: str, bound_s: float, force_namespace: str) -> DrainResult:
    """Evict every pod on node with the Eviction API (PDBs respected), retrying refusals; after
    bound_s, force-delete what is left of the drilled release's namespace only (pods a PDB still
    protects, evicted pods stuck terminating because no kubelet confirms their end). Other
    namespaces' pods are evicted like `kubectl drain` does, never force-deleted."""
    result = DrainResult()
    start = time.monotonic()
    while True:
        pods = _pods_on(kube, node)
        if not pods:
            break
        if time.monotonic() - start > bound_s:
            for pod in pods:
                if pod.metadata.namespace != force_namespace:
                    continue
                try:
                    kube.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
                    result.force_deleted.append(pod.metadata.name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            break
        for pod in pods:
            name, ns = pod.metadata.name, pod.metadata.namespace
            if pod.metadata.deletion_timestamp or name in result.evicted:
                continue
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
            try:
                kube.core.create_namespaced_pod_eviction(name, ns, body)
                result.evicted.append(name)
            except ApiException as exc:
                if exc.status == 429 and name not in result.blocked:
                    result.blocked.append(name)
                elif exc.status not in (404, 429):
                    raise
        time.sleep(1.0)
    result.seconds = time.monotonic() - start
    return result


# -- CPU usage (local) ---------------------------------------------------------------------------

def set_cpu_usage(kube: Kube, namespace: str, usage_millicores: dict[str, int]) -> None:
    for pod, millis in usage_millicores.items():
        try:
            kube.core.patch_namespaced_pod(pod, namespace, {"metadata": {"annotations": {
                USAGE_CPU_ANNOTATION: f"{max(1, int(millis))}m"}}})
        except ApiException as exc:
            if exc.status != 404:  # the pod went away meanwhile
                raise


def clear_cpu_usage(kube: Kube, namespace: str, selector: str) -> int:
    cleared = 0
    for pod in kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
        if USAGE_CPU_ANNOTATION in (pod.metadata.annotations or {}):
            try:
                kube.core.patch_namespaced_pod(pod.metadata.name, namespace,
                                               {"metadata": {"annotations": {USAGE_CPU_ANNOTATION: None}}})
                cleared += 1
            except ApiException as exc:
                if exc.status != 404:
                    raise
    return cleared
