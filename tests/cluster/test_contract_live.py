"""The parts of Milvus's runtime contract that need a live release (docs/milvus-contract.md)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client

from deploytool.core import paths
from deploytool.core.errors import CommandFailed
from deploytool.core.helm import Helm
from deploytool.render.values import Layers

NS = "contract-mq"


def test_mq_type_cannot_change_on_an_existing_release(local_cluster: Any) -> None:
    """mq.type is immutable once Milvus's coordinators have started: the chart compares with the live ConfigMap."""
    helm = Helm(str(local_cluster.kubeconfig), local_cluster.context)
    local_cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    values = Layers("dev").merged()
    try:
        helm.upgrade_install("milvus", paths.chart_dir(), NS, values, timeout_s=120, atomic=False)
        helm.upgrade_install("milvus", paths.chart_dir(), NS, values, timeout_s=120, atomic=False)  # same type: fine
        changed = copy.deepcopy(values)
        changed["messageQueue"] = {**values["messageQueue"], "type": "kafka", "kafka": {"brokerList": "kafka:9092"}}
        with pytest.raises(CommandFailed) as failed:
            helm.upgrade_install("milvus", paths.chart_dir(), NS, changed, timeout_s=120, atomic=False)
        assert "this release runs mq.type woodpecker" in failed.value.output
        assert helm.history("milvus", NS)[-1]["status"] == "deployed", "nothing was applied"
    finally:
        helm.uninstall("milvus", NS, timeout_s=120)
        local_cluster.core.delete_namespace(NS)
