"""The `local` provider: a real control plane built from Go modules, kwok nodes and real nodes,
milvus-lite as the engine.

Modules: provider.py (LocalProvider: create/status/delete), create.py (the create actions over a
complete context), teardown.py (the delete actions), kwok.py (kwokctl config and processes),
nodes.py (kwok nodes), storage.py (hostPath provisioner), agent.py (the cluster agent process),
milvus.py (milvus-lite behind kwok port-forwards), faults.py (what drills break here),
layout.py (where a cluster keeps its files). Real nodes (--real-nodes): realnodes.py (per node,
teardown, failure), containerd.py, kubelet.py, realnet.py (addresses, bridges, CNI, guard chain),
kubeproxy.py (kube-proxy and CoreDNS), hostslot.py (one such cluster per machine), images.py
(OCI images built here).
"""

from deploytool.clusters.local.provider import LocalProvider

__all__ = ["LocalProvider"]
