"""Which values paths may hold credentials, so that no message ever prints what is there."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Key names that hold (or look like they hold) a credential, in Milvus's config and ours:
# minio.accessKeyID / secretAccessKey, etcd.auth.password, mq SASL passwords, pulsar authParams,
# tokens, API keys. Matched case-insensitively against one key name.
_CREDENTIAL_KEY = re.compile(r"password|passwd|secret|accesskey|apikey|authparams|token$", re.I)
# Whole subtrees whose scalars are never echoed: our credentials block and free-form Milvus config.
SENSITIVE_ROOTS = ("credentials", "config")


def is_credential_key(name: object) -> bool:
    return isinstance(name, str) and bool(_CREDENTIAL_KEY.search(name))


def is_sensitive(path: Sequence[object]) -> bool:
    """True when a value at this path must not be printed."""
    return bool(path) and (path[0] in SENSITIVE_ROOTS or any(is_credential_key(p) for p in path))
