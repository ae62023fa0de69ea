"""The object-storage credentials Secret: created by deploytool, never written to disk or printed.

Sources, first match wins: --credentials-file (YAML or KEY=VALUE lines with access-key /
secret-key); the environment variables DEPLOYTOOL_S3_ACCESS_KEY / DEPLOYTOOL_S3_SECRET_KEY; the
Secret already in the namespace (kept as is, so `up` is idempotent); for dev only, a generated pair.
A changed pair replaces the Secret and `up` restarts the pods so they all read the new one.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.core.errors import BadInput
from deploytool.core.kube import Kube
from deploytool.render.values import NotYAML, load_yaml_text, read_text_file

ACCESS_KEY, SECRET_KEY = "access-key", "secret-key"
ENV_ACCESS, ENV_SECRET = "DEPLOYTOOL_S3_ACCESS_KEY", "DEPLOYTOOL_S3_SECRET_KEY"
GENERATING_ENVS = ("dev",)
FORBIDDEN_IN_PROD = "minioadmin"


@dataclass(repr=False)
class Credentials:
    access_key: str
    secret_key: str
    source: str

    def __repr__(self) -> str:  # never leak the values into logs or tracebacks
        return f"Credentials(source={self.source!r}, access_key=<redacted>, secret_key=<redacted>)"


def _from_file(path: Path) -> Credentials:
    text = read_text_file(path, "credentials file")
    data: dict[str, str] = {}
    try:
        loaded = load_yaml_text(text, f"credentials file {path}")
    except NotYAML:  # KEY=VALUE lines; duplicate keys and alias bombs stay refused
        loaded = None
    if isinstance(loaded, dict):
        data = {str(k): str(v) for k, v in loaded.items()}
    else:
        for line in text.splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                data[key.strip()] = value.strip()
    access = data.get(ACCESS_KEY) or data.get(ENV_ACCESS)
    secret = data.get(SECRET_KEY) or data.get(ENV_SECRET)
    if not access or not secret:
        raise BadInput(f"credentials file {path} needs both '{ACCESS_KEY}' and '{SECRET_KEY}'")
    return Credentials(access, secret, f"file {path}")


def explicit(env: str, credentials_file: Path | None) -> Credentials | None:
    """Credentials the user gave (file, then environment), checked; None if none were given."""
    creds = None
    if credentials_file:
        creds = _from_file(credentials_file)
    elif os.environ.get(ENV_ACCESS) and os.environ.get(ENV_SECRET):
        creds = Credentials(os.environ[ENV_ACCESS], os.environ[ENV_SECRET], "environment")
    if creds and env in ("prod", "production") and FORBIDDEN_IN_PROD in (creds.access_key, creds.secret_key):
        raise BadInput("prod must not use MinIO's default credentials (minioadmin)")
    return creds


def must_come_from_user(env: str) -> bool:
    return env not in GENERATING_ENVS


def resolve(env: str, given: Credentials | None, existing: bool) -> Credentials | None:
    """What to put in the Secret, from explicit()'s result; None means: keep the existing Secret."""
    if given:
        return given
    if existing:
        return None
    if not must_come_from_user(env):
        return Credentials("dt-" + secrets.token_hex(6), secrets.token_urlsafe(24), "generated")
    raise BadInput(missing_message(env))


def missing_message(env: str) -> str:
    return (f"env '{env}' needs object-storage credentials: set {ENV_ACCESS} and {ENV_SECRET}, "
            f"or pass --credentials-file (only dev generates them)")


def read_existing(kube: Kube, namespace: str, name: str) -> dict[str, str] | None:
    try:
        secret = kube.core.read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def apply(kube: Kube, namespace: str, name: str, release: str, creds: Credentials) -> str:
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels={
            "app.kubernetes.io/instance": release, "app.kubernetes.io/managed-by": "deploytool"}),
        type="Opaque",
        string_data={ACCESS_KEY: creds.access_key, SECRET_KEY: creds.secret_key},
    )
    current = read_existing(kube, namespace, name)
    if current is None:
        kube.core.create_namespaced_secret(namespace, body)
        return f"created {name} ({creds.source})"
    if current.get(ACCESS_KEY) == creds.access_key and current.get(SECRET_KEY) == creds.secret_key:
        return f"{name} unchanged"
    kube.core.replace_namespaced_secret(name, namespace, body)
    return f"updated {name} ({creds.source})"
