"""Rules for values that Kubernetes, a registry or MinIO would refuse, or that cannot be what they claim.

Registered into validate.RULES (validate.py imports this module). Kubernetes' own limits are from
k8s.io/apimachinery/pkg/util/validation (DNS-1123/1035 names, label values, qualified names),
k8s.io/apimachinery/pkg/api/resource (quantities) and apps/policy validation (int32 replicas,
percentages at most 100%); image references follow github.com/distribution/reference's grammar.
No message prints a value that may be a credential (see redact.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from deploytool.core import quantity
from deploytool.core.errors import Problem
from deploytool.render.components import CLUSTER_COMPONENTS
from deploytool.render.redact import is_credential_key
from deploytool.render.validate import PROD_ENVS, rule

# Every component-like block of the values (Milvus roles and the bundled dependencies).
SPEC_KEYS = ("standalone", *(key for key, _ in CLUSTER_COMPONENTS), "etcd", "minio")
# Roles without which a cluster-mode Milvus serves nothing; standalone is all of Milvus.
MUST_SERVE = {
    "proxy": "clients connect through it",
    "queryNode": "searches and queries run on it",
    "streamingNode": "every write goes through its WAL",
    "mixCoord": "every other role needs the coordinator",
}

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL)
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
SECRET_DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
PERCENT = re.compile(r"(\d+)%")
# distribution/reference: path components are lowercase alphanumerics joined by '.', '_', '__' or '-'s;
# a first component with a '.' or ':' (or 'localhost') is a registry host[:port].
PATH_COMPONENT = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*")
REGISTRY = re.compile(r"([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?")
IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}")
# A StatefulSet's name must leave room for its pods' controller-revision-hash label
# ("<name>-<10-char hash>" <= 63, so names <= 52; kubernetes/kubernetes#64023); the chart's longest
# StatefulSet name is "<fullname>-standalone".
MAX_FULLNAME = 52 - len("-standalone")


def _specs(values: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in SPEC_KEYS:
        spec = values.get(key)
        if isinstance(spec, dict):
            yield key, spec


def _image_name_problem(name: str) -> str | None:
    if len(name) > 255:
        return "is longer than 255 characters"
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not REGISTRY.fullmatch(first):
            return f"has an invalid registry host '{first}'"
        parts = parts[1:]
    for part in parts:
        if not PATH_COMPONENT.fullmatch(part):
            return (f"has an invalid path component '{part}' (lowercase letters and digits, separated by "
                    "'.', '_', '__' or '-')")
    return None


def _images(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `image:` block of the values (global, per component, bundled dependencies)."""
    for key, value in tree.items():
        if not isinstance(value, dict) or key == "config":
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        if key == "image":
            yield path, value
        else:
            yield from _images(value, path)


@rule
def image_reference(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """repository:tag must be an image reference a registry accepts; the tag is also a label value."""
    for path, image in _images(values):
        repo, tag = image.get("repository"), image.get("tag")
        if isinstance(repo, str) and repo:
            why = _image_name_problem(repo)
            if why:
                yield Problem(f"{path}.repository", f"'{repo}' is not an image repository: it {why}",
                              "image-reference")
        if isinstance(tag, str) and tag:
            if not IMAGE_TAG.fullmatch(tag):
                yield Problem(f"{path}.tag", f"'{tag}' is not an image tag (letters, digits, '_', '.', '-'; "
                              "at most 128; not starting with '.' or '-')", "image-reference")
            elif len(tag) > 63 or not LABEL_VALUE.fullmatch(tag):
                yield Problem(f"{path}.tag", f"'{tag}' is also the app.kubernetes.io/version label: at most 63 "
                              "characters, starting and ending with a letter or digit", "image-reference")


def _name_problem(value: Any, pattern: re.Pattern[str], max_len: int, what: str) -> str | None:
    if not isinstance(value, str) or value == "":
        return None
    if len(value) > max_len or not pattern.fullmatch(value):
        return f"'{value}' is not {what} (at most {max_len} characters)"
    return None


def _qualified_name_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return f"'{key}' has a prefix that is not a DNS-1123 subdomain"
    if len(name) > 63 or not QUALIFIED_NAME.fullmatch(name):
        return f"'{key}' is not a label key (name part: at most 63 letters, digits, '-', '_', '.')"
    return None


@rule
def kubernetes_names(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """Names that end up in object names, label keys/values, Secret keys and bucket names."""
    lowercase = "lowercase letters, digits and '-', starting and ending alphanumeric"
    checks: list[tuple[str, Any, re.Pattern[str], int, str]] = [
        ("nameOverride", values.get("nameOverride"), DNS1123_LABEL, 63, f"a DNS-1123 label ({lowercase})"),
        ("fullnameOverride", values.get("fullnameOverride"), DNS1035_LABEL, MAX_FULLNAME,
         f"a DNS-1035 label short enough for every object name the chart derives from it ({lowercase}, "
         "starting with a letter)"),
    ]
    creds = values.get("credentials") or {}
    if isinstance(creds, dict):
        checks.append(("credentials.existingSecret", creds.get("existingSecret"), DNS1123_SUBDOMAIN, 253,
                       "a Secret name (DNS-1123 subdomain)"))
        for key in ("accessKeyKey", "secretKeyKey"):
            checks.append((f"credentials.{key}", creds.get(key), SECRET_DATA_KEY, 253,
                           "a Secret data key (letters, digits, '-', '_', '.')"))
    for key, spec in _specs(values):
        persistence = spec.get("persistence") or {}
        if isinstance(persistence, dict):
            checks.append((f"{key}.persistence.storageClass", persistence.get("storageClass"), DNS1123_SUBDOMAIN,
                           253, "a StorageClass name (DNS-1123 subdomain)"))
    for key in ("minio", "externalS3"):
        block = values.get(key) or {}
        if isinstance(block, dict):
            checks.append((f"{key}.bucketName", block.get("bucketName"), S3_BUCKET, 63,
                           "an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"))
    for path, value, pattern, max_len, what in checks:
        why = _name_problem(value, pattern, max_len, what)
        if why:
            yield Problem(path, why, "kubernetes-name")
    for key, spec in _specs(values):
        for block in ("antiAffinity", "topologySpread"):
            topology_key = (spec.get(block) or {}).get("topologyKey") if isinstance(spec.get(block), dict) else None
            why = _qualified_name_problem(topology_key) if isinstance(topology_key, str) and topology_key else None
            if why:
                yield Problem(f"{key}.{block}.topologyKey", why, "kubernetes-name")
        selector = spec.get("nodeSelector")
        for label, label_value in (selector.items() if isinstance(selector, dict) else []):
            why = _qualified_name_problem(str(label))
            if why:
                yield Problem(f"{key}.nodeSelector", why, "kubernetes-name")
            elif not isinstance(label_value, str) or len(label_value) > 63 or not LABEL_VALUE.fullmatch(label_value):
                yield Problem(f"{key}.nodeSelector.{label}", "is not a label value (at most 63 letters, digits, "
                              "'-', '_', '.', starting and ending alphanumeric)", "kubernetes-name")


@rule
def quantities_valid(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """Requests and limits are Kubernetes quantities and not negative (the API server refuses both)."""
    for key, spec in _specs(values):
        resources = spec.get("resources") or {}
        for kind in ("requests", "limits"):
            entries = resources.get(kind) if isinstance(resources, dict) else None
            for res, raw in (entries.items() if isinstance(entries, dict) else []):
                path = f"{key}.resources.{kind}.{res}"
                if isinstance(raw, bool) or not QUANTITY.fullmatch(str(raw).strip()):
                    yield Problem(path, f"'{raw}' is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)", "quantity")
                elif quantity.parse(raw) < 0:
                    yield Problem(path, f"{raw} is negative; Kubernetes requires requests and limits >= 0",
                                  "quantity")


@rule
def percentages_at_most_100(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """maxSurge/maxUnavailable and PDB minAvailable/maxUnavailable percentages stay within 0-100%."""
    for key, spec in _specs(values):
        for block, fields in (("strategy", ("maxSurge", "maxUnavailable")),
                              ("pdb", ("minAvailable", "maxUnavailable"))):
            settings = spec.get(block)
            if not isinstance(settings, dict):
                continue
            for name in fields:
                match = PERCENT.fullmatch(str(settings.get(name)))
                if match and int(match.group(1)) > 100:
                    yield Problem(f"{key}.{block}.{name}", f"{match.group(0)} is above 100%", "percent-at-most-100")


@rule
def prod_components_serve(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """In prod, a role Milvus cannot serve without has at least one replica (or an HPA)."""
    if env not in PROD_ENVS:
        return
    if values.get("mode") == "standalone":
        roles = {"standalone": "it is the whole of Milvus"}
    else:
        roles = MUST_SERVE
    for key, why in roles.items():
        spec = values.get(key) or {}
        if not isinstance(spec, dict) or ((spec.get("autoscaling") or {}).get("enabled")):
            continue
        if spec.get("replicas") == 0:
            yield Problem(f"{key}.replicas", f"0 replicas in prod without autoscaling: Milvus cannot serve ({why})",
                          "prod-components-serve")


def _credential_paths(tree: Any, path: str) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            sub = f"{path}.{key}"
            if is_credential_key(key) and not isinstance(value, (dict, list, bool)) and value not in (None, ""):
                yield sub
            else:
                yield from _credential_paths(value, sub)
    elif isinstance(tree, list):
        for index, item in enumerate(tree):
            yield from _credential_paths(item, f"{path}[{index}]")


@rule
def no_credentials_in_config(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """Free-form `config:` is written to a ConfigMap, manifests/ and helm's release: never a credential."""
    for path in _credential_paths(values.get("config"), "config"):
        yield Problem(path, "looks like a credential (value not shown); credentials must not be in config: they "
                      "would be written to a ConfigMap, manifests and helm's release. deploytool injects the "
                      "object-storage keys from the credentials Secret", "no-credentials-in-config")
