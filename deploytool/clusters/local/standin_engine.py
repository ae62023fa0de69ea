"""The shared Milvus engine behind the stand-in proxies of a cluster-mode env on real nodes.

Milvus proxies are stateless front-ends over shared state; the stand-in's proxies relay the Milvus
gRPC API to one milvus-lite engine (`milvus standin-engine`, same image, not a Milvus role;
docs/milvus-standin.md). On real nodes the provider runs it as a Deployment (one replica,
Recreate, its data on a PVC) with a Service `milvus-standin-engine` in the release's namespace,
created before helm and never restarted by deploytool afterwards (an upgrade of the release leaves
it on the image it was created with); the values overlay points the proxies at it
(`standin.engineAddress`).
It is not part of the release: helm and `down` leave it alone, the namespace's deletion removes it.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from deploytool.core.kube import Kube

NAME = "milvus-standin-engine"
PORT = 19530
HEALTH_PORT = 9091
ADDRESS = f"{NAME}:{PORT}"  # resolved in the pod's own namespace (its DNS search path)
REQUESTS = {"cpu": "20m", "memory": "256Mi"}
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "deploytool-local-cluster"}


def claim() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": NAME, "labels": LABELS},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, "labels": LABELS},
            "spec": {"selector": LABELS, "ports": [{"name": "milvus", "port": PORT, "targetPort": PORT}]}}


def deployment(image: str) -> dict[str, Any]:
    container = {
        "name": "engine", "image": image, "imagePullPolicy": "Never",
        "args": ["milvus", "standin-engine", "--data-dir", "/var/lib/milvus/standin-engine", "--port", str(PORT)],
        "ports": [{"name": "milvus", "containerPort": PORT}, {"name": "metrics", "containerPort": HEALTH_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 3},
        "resources": {"requests": dict(REQUESTS), "limits": {"memory": "2Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/milvus"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "labels": LABELS},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": LABELS},
                 "template": {"metadata": {"labels": LABELS}, "spec": {
                     "containers": [container], "enableServiceLinks": False, "automountServiceAccountToken": False,
                     "securityContext": {"fsGroup": 999},
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": NAME}}]}}},
    }


def ensure(kube: Kube, namespace: str, image: str) -> str:
    """Create the engine's claim, Service and Deployment when missing. An existing engine is left as it
    is, image included: it is one replica with Recreate, so changing it would cut every proxy at once
    (an upgrade moves the Milvus roles, not the engine behind the stand-in proxies)."""
    made = []
    for create, body in ((kube.core.create_namespaced_persistent_volume_claim, claim()),
                         (kube.core.create_namespaced_service, service()),
                         (kube.apps.create_namespaced_deployment, deployment(image))):
        try:
            create(namespace, body)
            made.append(body["kind"])
        except ApiException as exc:
            if exc.status != 409:
                raise
    if made:
        return f"shared engine {NAME} ({', '.join(made)} created)"
    return f"shared engine {NAME} exists (left as it is)"
