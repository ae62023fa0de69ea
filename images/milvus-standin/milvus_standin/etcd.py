"""A small etcd v3 client over etcd's JSON gateway (/v3/...), standard library only.

Every call tries the configured endpoints in turn (the first that answers wins), like the Go
client's failover across `etcd.endpoints`.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


class EtcdError(Exception):
    pass


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


class Etcd:
    def __init__(self, endpoints: list[str], timeout: float = 3.0) -> None:
        if not endpoints:
            raise EtcdError("no etcd endpoints configured (etcd.endpoints)")
        self.endpoints = [e if "://" in e else f"http://{e}" for e in endpoints]
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        errors = []
        for endpoint in self.endpoints:
            request = urllib.request.Request(f"{endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.timeout) as resp:
                    return json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                raise EtcdError(f"{endpoint}{path}: HTTP {exc.code} {detail}") from exc
            except (OSError, ValueError) as exc:
                errors.append(f"{endpoint}: {exc}")
        raise EtcdError("no etcd endpoint answered: " + "; ".join(errors))

    def ping(self, timeout: float = 1.0) -> None:
        """A read of key "health", as Milvus's session does before it starts."""
        self._call("/v3/kv/range", {"key": _b64("health")}, timeout=timeout)

    def get(self, key: str) -> tuple[str | None, int]:
        """(value, version) of key; (None, 0) when absent."""
        resp = self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = resp.get("kvs") or []
        if not kvs:
            return None, 0
        return _unb64(kvs[0].get("value", "")), int(kvs[0].get("version", 0))

    def get_prefix(self, prefix: str) -> dict[str, str]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        resp = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
        return {_unb64(kv["key"]): _unb64(kv.get("value", "")) for kv in resp.get("kvs") or []}

    def put(self, key: str, value: str, lease: int = 0) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        self._call("/v3/kv/put", body)

    def delete(self, key: str) -> None:
        self._call("/v3/kv/deleterange", {"key": _b64(key)})

    def put_if_absent(self, key: str, value: str, lease: int = 0) -> bool:
        """Txn: if version(key) == 0 then put. True when this call created the key."""
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            put["lease"] = str(lease)
        resp = self._call("/v3/kv/txn", {
            "compare": [{"key": _b64(key), "target": "VERSION", "result": "EQUAL", "version": "0"}],
            "success": [{"requestPut": put}],
        })
        return bool(resp.get("succeeded"))

    def compare_and_swap(self, key: str, old: str, new: str) -> bool:
        resp = self._call("/v3/kv/txn", {
            "compare": [{"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(old)}],
            "success": [{"requestPut": {"key": _b64(key), "value": _b64(new)}}],
        })
        return bool(resp.get("succeeded"))

    def grant(self, ttl: int) -> int:
        return int(self._call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease: int) -> int:
        """Renew a lease once; returns the TTL left (0 or less: the lease is gone)."""
        resp = self._call("/v3/lease/keepalive", {"ID": str(lease)})
        result = resp.get("result") or {}
        return int(result.get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self._call("/v3/lease/revoke", {"ID": str(lease)})
