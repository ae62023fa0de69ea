"""Woodpecker's start-up check that the object store supports conditional writes.

Woodpecker (zilliztech/woodpecker, woodpecker/woodpecker_embed_client.go and
common/objectstorage/object_storage.go), the WAL a Milvus 2.6/3.0 streamingnode embeds with
`mq.type: woodpecker` and `woodpecker.storage.type: minio`, verifies before it starts that a PUT
with `If-None-Match: *` creates a new object and is refused for an existing one; it tries up to 10
times (sleep 100 ms growing to 2 s) and fails the start when the store never refuses.
`woodpecker.logstore.fencePolicy.conditionWrite: disable` skips the check (and woodpecker then
fences without conditional writes).
"""

from __future__ import annotations

import os
import secrets
import time

from milvus_standin import log
from milvus_standin.s3 import S3, S3Error

ATTEMPTS = 10


class ConditionalWriteUnsupported(Exception):
    pass


def check_once(store: S3, bucket: str, root_path: str) -> None:
    check_id = f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(8)}"
    key = f"{root_path.strip('/')}/conditional_write_{check_id}".lstrip("/")
    data = b"test-conditional-write-data"
    try:
        status = store.put(bucket, key, data, if_none_match=True)
        if status != 200:
            raise ConditionalWriteUnsupported(
                f"PutObjectIfNoneMatch not supported or failed for a new object {bucket}/{key}: HTTP {status}")
        status = store.put(bucket, key, data, if_none_match=True)
        if status != 412:
            raise ConditionalWriteUnsupported(
                "PutObjectIfNoneMatch should return error for existing object, but it succeeded unexpectedly "
                f"(HTTP {status}): this object store does not support conditional writes (If-None-Match: *)")
    finally:
        try:
            store.delete(bucket, key)
        except (S3Error, OSError):
            pass


def check(store: S3, bucket: str, root_path: str, attempts: int = ATTEMPTS) -> None:
    """Raise ConditionalWriteUnsupported when every attempt fails, as woodpecker fails its start."""
    sleep, last = 0.1, ""
    for attempt in range(1, attempts + 1):
        try:
            check_once(store, bucket, root_path)
            log.info("Condition write verification succeeded", attempt=attempt)
            return
        except (ConditionalWriteUnsupported, S3Error, OSError) as exc:
            last = str(exc)
            log.warn("Condition write verification failed", attempt=attempt,
                     remainingRetries=attempts - attempt, error=last,
                     failureAction="startup will fail if all retries fail")
        if attempt < attempts:
            time.sleep(sleep)
            sleep = min(sleep * 2, 2.0)
    raise ConditionalWriteUnsupported(f"condition write verification failed after {attempts} attempts: {last}")
