"""The `local` provider: a real control plane built from Go modules, kwok nodes, milvus-lite as the engine.

Modules: provider.py (LocalProvider: create/status/delete), create.py (the create actions over a
complete context), teardown.py (the delete actions), kwok.py (kwokctl config and processes),
nodes.py (kwok nodes), storage.py (hostPath provisioner), agent.py (the cluster agent process),
milvus.py (milvus-lite behind kwok port-forwards), faults.py (what drills break here),
layout.py (where a cluster keeps its files).
"""

from deploytool.clusters.local.provider import LocalProvider

__all__ = ["LocalProvider"]
