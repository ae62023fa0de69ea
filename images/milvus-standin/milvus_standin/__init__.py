"""A stand-in for the Milvus server image: `milvus run <role>` keeps Milvus's runtime contract.

No Milvus 2.6/3.0 server binary can be had here, so the local cluster's real nodes run this
program in its place. Each role does what its contract with the rest of a deployment requires --
config file and environment, etcd session, object storage, woodpecker's conditional-write check,
/healthz and /livez on 9091, graceful stop -- and says in its logs that it is a stand-in. Queries
are served by one real Milvus engine (milvus-lite) behind the proxies. docs/milvus-standin.md
lists every Milvus fact used here with its source, and what the stand-in does not do.
"""

STANDIN_BANNER = "THIS IS A STAND-IN for Milvus (deploytool images/milvus-standin), not a Milvus server"
