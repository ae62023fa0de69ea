"""The faults drills inject on a local cluster, whose kwok nodes simulate kubelets and pods.

* node failure -- a simulated node: nodes.set_node_failed, kwok stops heartbeating the node; a
  real node: its kubelet, its containers and its containerd are stopped (realnodes.fail_node), as
  when the machine dies. Either way the real kube-controller-manager marks it NotReady after its
  grace period and its pods not Ready, and evicts them when their toleration runs out.
* CPU usage -- the ClusterResourceUsage the cluster installs (milvus.usage_rule) reads the pod
  annotation kwok.x-k8s.io/usage-cpu; metrics-server scrapes it; the real HPA controller acts on it.
* unpullable tag -- kwok marks every pod Ready whatever its image, and its stages come from a
  config file fixed at cluster creation (the Stage CRD is not enabled), so a ValidatingAdmissionPolicy
  (CEL, in the real kube-apiserver) refuses pods whose image tag ends in the suffix: the new
  ReplicaSet never gets a pod, as with a tag that cannot be pulled.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import REAL, SIMULATED, node_kind
from deploytool.clusters.faults import Faults
from deploytool.clusters.local import realnodes, standin_engine
from deploytool.clusters.local.layout import Layout
from deploytool.clusters.local.milvus import USAGE_CPU_ANNOTATION
from deploytool.clusters.local.nodes import set_node_failed
from deploytool.core.errors import BadInput, CommandFailed
from deploytool.core.kube import Kube
from deploytool.core.labels import MANAGED_BY, MANAGER
from deploytool.core.wait import wait_until

POLICY = "deploytool-drill-broken-image"
MANAGED_BY_US = {MANAGED_BY: MANAGER}


def unpullable_policy(namespace: str, suffix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ValidatingAdmissionPolicy + binding refusing pods in namespace whose image ends in suffix."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY, "labels": MANAGED_BY_US},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                    "operations": ["CREATE"], "resources": ["pods"]}]},
            "validations": [{
                "expression": f"object.spec.containers.all(c, !c.image.endsWith('{suffix}'))",
                "messageExpression": ("'image ' + object.spec.containers.filter(c, c.image.endsWith('"
                                      + suffix + "'))[0].image + ' cannot start "
                                      "(deploytool drill: simulated broken tag)'"),
                "reason": "Invalid",
            }],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY, "labels": MANAGED_BY_US},
        "spec": {"policyName": POLICY, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": namespace}}}},
    }
    return policy, binding


class LocalFaults(Faults):
    simulates_image_pulls = True

    def __init__(self, kube: Kube, layout: Layout | None = None) -> None:
        self.kube = kube
        self.layout = layout or Layout(kube.context or "")
        self._node_kinds: dict[str, str] = {}

    # -- nodes -------------------------------------------------------------------------------
    def node_failure_unsupported(self) -> str:
        return ""

    def _kind(self, node: str) -> str:
        return node_kind(self.kube.core.read_node(node).metadata.labels, SIMULATED)

    def stand_in_nodes(self, namespace: str) -> dict[str, list[str]]:
        """Where the stand-in proxies' shared engine runs (standin_engine: a Deployment beside the
        release on real nodes, standing in for Milvus's data path; not a Milvus component)."""
        selector = ",".join(f"{k}={v}" for k, v in standin_engine.LABELS.items())
        found: dict[str, list[str]] = {}
        for pod in self.kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
            if pod.spec.node_name and not pod.metadata.deletion_timestamp:
                found.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
        return found

    def fail_node(self, node: str) -> str:
        if self._kind(node) == REAL:
            realnodes.fail_node(self.layout, node)
            return "its kubelet, its containers and its containerd were stopped, as when the machine dies"
        set_node_failed(client.CoordinationV1Api(self.kube.api), node, True)
        return "kwok stops heartbeating it (its Lease is taken over); pods on it are no longer reported"

    def restore_node(self, node: str) -> str:
        if self._kind(node) == REAL:
            realnodes.restore_node(self.layout, node)
            return "its containerd and kubelet run again"
        set_node_failed(client.CoordinationV1Api(self.kube.api), node, False)
        return "kwok heartbeats it again"

    # -- CPU usage ---------------------------------------------------------------------------
    def drive_cpu(self, namespace: str, usage_millicores: dict[str, int]) -> None:
        real = self._pods_on_real_nodes(namespace, list(usage_millicores))
        if real:  # kwok's usage rules only reach simulated pods: an annotation would change nothing
            raise BadInput(f"pods {', '.join(real)} run on real nodes: their CPU usage cannot be set, "
                           "only caused by load")
        for pod, millis in usage_millicores.items():
            try:
                self.kube.core.patch_namespaced_pod(pod, namespace, {"metadata": {"annotations": {
                    USAGE_CPU_ANNOTATION: f"{max(1, int(millis))}m"}}})
            except ApiException as exc:
                if exc.status != 404:  # the pod went away meanwhile
                    raise

    def _pods_on_real_nodes(self, namespace: str, pods: list[str]) -> list[str]:
        kinds = self._node_kinds  # a node's kind never changes
        found = []
        for name in pods:
            try:
                node = self.kube.core.read_namespaced_pod(name, namespace).spec.node_name
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            if node and node not in kinds:
                kinds[node] = self._kind(node)
            if node and kinds[node] == REAL:
                found.append(name)
        return found

    def stop_cpu(self, namespace: str, selector: str) -> int:
        cleared = 0
        for pod in self.kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
            if USAGE_CPU_ANNOTATION in (pod.metadata.annotations or {}):
                try:
                    self.kube.core.patch_namespaced_pod(pod.metadata.name, namespace,
                                                        {"metadata": {"annotations": {USAGE_CPU_ANNOTATION: None}}})
                    cleared += 1
                except ApiException as exc:
                    if exc.status != 404:
                        raise
        return cleared

    # -- unpullable tags ---------------------------------------------------------------------
    def make_unpullable(self, namespace: str, suffix: str, timeout_s: float = 30) -> str:
        api = client.AdmissionregistrationV1Api(self.kube.api)
        self.restore_pullable()
        policy, binding = unpullable_policy(namespace, suffix)
        api.create_validating_admission_policy(policy)
        api.create_validating_admission_policy_binding(binding)
        probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deploytool-policy-check"},
                 "spec": {"containers": [{"name": "c", "image": f"example.invalid/check:x{suffix}"}]}}

        def refused() -> bool:  # the policy takes a moment to be compiled and enforced
            try:
                self.kube.core.create_namespaced_pod(namespace, probe, dry_run="All")
            except ApiException as exc:
                return exc.status in (400, 403, 422) and "simulated broken tag" in str(exc.body)
            return False

        try:
            wait_until(refused, timeout_s, 1, "the admission policy to be enforced", retry=())
        except TimeoutError:
            raise CommandFailed(["install-policy", POLICY], 1,
                                f"the policy was not enforced within {timeout_s:.0f}s") from None
        return f"pods with an image tag ending in {suffix} are refused at admission"

    def restore_pullable(self) -> None:
        api = client.AdmissionregistrationV1Api(self.kube.api)
        for delete in (api.delete_validating_admission_policy_binding, api.delete_validating_admission_policy):
            try:
                delete(POLICY)
            except ApiException as exc:
                if exc.status != 404:
                    raise
