"""A small S3 client (AWS Signature V4, path-style), standard library only.

Enough for what a Milvus role needs at start and for /healthz: bucket exists / create, put (also
conditional: If-None-Match: *), head, delete.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import urllib.parse
from dataclasses import dataclass


class S3Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class S3:
    host: str
    port: int
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    use_ssl: bool = False
    timeout: float = 5.0

    def _sign(self, method: str, path: str, headers: dict[str, str], payload: bytes) -> dict[str, str]:
        now = datetime.datetime.now(datetime.UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload_hash = hashlib.sha256(payload).hexdigest()
        all_headers = {k.lower(): v.strip() for k, v in headers.items()}
        all_headers.update({"host": f"{self.host}:{self.port}", "x-amz-date": amz_date,
                            "x-amz-content-sha256": payload_hash})
        signed = ";".join(sorted(all_headers))
        canonical = "\n".join([
            method, urllib.parse.quote(path, safe="/-_.~"), "",
            "".join(f"{k}:{all_headers[k]}\n" for k in sorted(all_headers)), signed, payload_hash,
        ])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{self.secret_key}".encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        all_headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                        f"SignedHeaders={signed}, Signature={signature}")
        return all_headers

    def request(self, method: str, path: str, payload: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        signed = self._sign(method, path, headers or {}, payload)
        conn_cls = http.client.HTTPSConnection if self.use_ssl else http.client.HTTPConnection
        conn = conn_cls(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, urllib.parse.quote(path, safe="/-_.~"), body=payload or None, headers=signed)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    @staticmethod
    def _message(body: bytes) -> str:
        text = body.decode(errors="replace")

        def tag(name: str) -> str:
            start, end = text.find(f"<{name}>"), text.find(f"</{name}>")
            return text[start + len(name) + 2:end] if 0 <= start < end else ""

        code, message = tag("Code"), tag("Message")
        return f"{code}: {message}" if code else (text[:200] or "(no body)")

    def bucket_exists(self, bucket: str, timeout: float | None = None) -> bool:
        status, body = self.request("HEAD", f"/{bucket}", timeout=timeout)
        if status == 200:
            return True
        if status == 404:
            return False
        # HEAD has no body; ask again with GET ?location to learn why (wrong key, ...)
        status, body = self.request("GET", f"/{bucket}", timeout=timeout)
        raise S3Error(status, self._message(body))

    def make_bucket(self, bucket: str) -> None:
        status, body = self.request("PUT", f"/{bucket}")
        if status not in (200, 409):
            raise S3Error(status, self._message(body))

    def put(self, bucket: str, key: str, data: bytes, if_none_match: bool = False) -> int:
        """PUT an object; returns the HTTP status (200, or 412 when If-None-Match: * failed)."""
        headers = {"If-None-Match": "*"} if if_none_match else {}
        status, body = self.request("PUT", f"/{bucket}/{key}", data, headers)
        if status not in (200, 412):
            raise S3Error(status, self._message(body))
        return status

    def delete(self, bucket: str, key: str) -> None:
        status, body = self.request("DELETE", f"/{bucket}/{key}")
        if status not in (200, 204, 404):
            raise S3Error(status, self._message(body))
