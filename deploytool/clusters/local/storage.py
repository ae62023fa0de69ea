"""Storage for a local cluster: a default StorageClass and a tiny external provisioner.

On kwok nodes there is no kubelet, so volumes are bookkeeping only; real nodes' kubelets mount
them (hostPath folders under the cluster's volumes/ directory). The StorageClass
`standard` (the default class) names our provisioner and binds Immediately, like network
storage (no node affinity, so a pod can move to another node with its volume). The real
kube-controller-manager's PV controller marks each such PVC "waiting for an external
provisioner"; the agent (agent.py, a daemon started with the cluster) then creates a
PersistentVolume of the requested size pre-bound to that claim, and the PV controller binds
the pair: any size, any count, StatefulSet volumeClaimTemplates included. When a claim is
deleted its PV is Released and the agent deletes it (reclaimPolicy Delete).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

PROVISIONER = "deploytool.local/kwok-hostpath"
STORAGE_CLASS = "standard"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")

log = logging.getLogger("deploytool.storage")


def storage_class_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def ensure_storage_class(storage: client.StorageV1Api) -> None:
    try:
        storage.create_storage_class(storage_class_manifest())
    except ApiException as exc:
        if exc.status != 409:
            raise


def wants_volume(pvc: Any) -> bool:
    """An unbound claim that the PV controller handed to our provisioner."""
    annotations = pvc.metadata.annotations or {}
    ours = any(annotations.get(key) == PROVISIONER for key in PROVISIONER_ANNOTATIONS)
    return (ours and not pvc.spec.volume_name and (pvc.status.phase or "Pending") == "Pending"
            and pvc.metadata.deletion_timestamp is None)


def pv_name(pvc: Any) -> str:
    return f"pvc-{pvc.metadata.uid}"


def pv_manifest(pvc: Any, volumes_dir: str) -> dict[str, Any]:
    size = ((pvc.spec.resources.requests or {}) if pvc.spec.resources else {}).get("storage", "1Gi")
    namespace, name = pvc.metadata.namespace, pvc.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name(pvc),
            "annotations": {PROVISIONED_BY: PROVISIONER},
            "labels": {"deploytool.local/claim-namespace": namespace},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(pvc.spec.access_modes or ["ReadWriteOnce"]),
            "volumeMode": pvc.spec.volume_mode or "Filesystem",
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": pvc.spec.storage_class_name or STORAGE_CLASS,
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace,
                         "name": name, "uid": pvc.metadata.uid},
            # kwok nodes never mount it; real nodes' kubelets do (the folder on this machine is shared by
            # every real node, like network storage). The claim's uid keeps a new claim of the same
            # name from finding an old claim's data.
            "hostPath": {"path": f"{volumes_dir}/{namespace}/{name}-{pvc.metadata.uid[:8]}",
                         "type": "DirectoryOrCreate"},
        },
    }


def provision(core: client.CoreV1Api, pvc: Any, volumes_dir: str) -> bool:
    """Create the PV for a claim, and its folder writable for every uid; True if created now (False
    if it already existed).

    The kubelet does not apply a pod's fsGroup to hostPath volumes, and would create the folder
    0755 root: the non-root pods (etcd uid 1001, MinIO 1000, Milvus 3.x 999) could not write it.
    Like kind's local-path-provisioner, the folder is made 0777 before the volume exists."""
    folder = Path(pv_manifest(pvc, volumes_dir)["spec"]["hostPath"]["path"])
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    try:
        core.create_persistent_volume(pv_manifest(pvc, volumes_dir))
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    log.info("provisioned %s for %s/%s", pv_name(pvc), pvc.metadata.namespace, pvc.metadata.name)
    return True


def should_delete(pv: Any) -> bool:
    annotations = pv.metadata.annotations or {}
    return (annotations.get(PROVISIONED_BY) == PROVISIONER and pv.status.phase == "Released"
            and pv.spec.persistent_volume_reclaim_policy == "Delete" and pv.metadata.deletion_timestamp is None)


def reclaim(core: client.CoreV1Api, pv: Any, volumes_dir: str | None = None) -> None:
    """Delete a released volume, and its data folder when it lies in volumes_dir (reclaimPolicy Delete)."""
    try:
        core.delete_persistent_volume(pv.metadata.name)
        log.info("deleted released %s", pv.metadata.name)
    except ApiException as exc:
        if exc.status != 404:
            raise
    path = pv.spec.host_path.path if pv.spec.host_path else None
    if volumes_dir and path and Path(path).resolve().is_relative_to(Path(volumes_dir).resolve()) \
            and Path(path).resolve() != Path(volumes_dir).resolve():
        shutil.rmtree(path, ignore_errors=True)
