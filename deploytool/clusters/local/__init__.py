"""The `local` provider: a real control plane built from Go modules, kwok nodes, milvus-lite as the engine.

Modules: provider.py (LocalProvider: create/status/delete), kwok.py (kwokctl config and processes),
nodes.py (kwok nodes), storage.py (hostPath provisioner), agent.py (the cluster agent process),
milvus.py (milvus-lite behind kwok port-forwards), layout.py (where a cluster keeps its files).
"""

from deploytool.clusters.local.provider import LocalProvider

__all__ = ["LocalProvider"]
