"""The object-storage credentials Secret: created by deploytool, never written to disk or printed.

Sources, first match wins: --credentials-file (YAML or KEY=VALUE lines with access-key /
secret-key); the environment variables DEPLOYTOOL_S3_ACCESS_KEY / DEPLOYTOOL_S3_SECRET_KEY; the
Secret already in the namespace (kept as is, so `up` is idempotent); for dev only, a generated pair.
A changed pair replaces the Secret and `up` restarts the pods so they all read the new one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from deploytool.core.errors import BadInput
from deploytool.core.kube import Kube
from deploytool.core.labels import INSTANCE, MANAGED_BY, MANAGER
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


def choose(env: str, given: Credentials | None, existing: Mapping[str, str]) -> Credentials:
    """What the Secret must hold, from explicit()'s result and the Secret's current data ({} if
    there is none): the given pair, else the existing one (kept as is), else for dev a new pair."""
    if given:
        return given
    if existing.get(ACCESS_KEY) and existing.get(SECRET_KEY):
        return Credentials(existing[ACCESS_KEY], existing[SECRET_KEY], "the existing Secret")
    if not must_come_from_user(env):
        return Credentials("dt-" + secrets.token_hex(6), secrets.token_urlsafe(24), "generated")
    raise BadInput(missing_message(env))


def differs(creds: Credentials, existing: Mapping[str, str]) -> bool:
    """True if writing creds changes a Secret that holds `existing` (a new Secret counts as a change)."""
    return (existing.get(ACCESS_KEY), existing.get(SECRET_KEY)) != (creds.access_key, creds.secret_key)


def missing_message(env: str) -> str:
    return (f"env '{env}' needs object-storage credentials: set {ENV_ACCESS} and {ENV_SECRET}, "
            f"or pass --credentials-file (only dev generates them)")


def apply(kube: Kube, namespace: str, name: str, release: str, creds: Credentials, existing: Mapping[str, str]) -> str:
    """Make the Secret hold creds; `existing` is its data as read before ({} if it does not exist)."""
    if not differs(creds, existing):
        return f"{name} unchanged"
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels={INSTANCE: release, MANAGED_BY: MANAGER}),
        type="Opaque",
        string_data={ACCESS_KEY: creds.access_key, SECRET_KEY: creds.secret_key},
    )
    if not existing:
        kube.core.create_namespaced_secret(namespace, body)
        return f"created {name} ({creds.source})"
    kube.core.replace_namespaced_secret(name, namespace, body)
    return f"updated {name} ({creds.source})"
