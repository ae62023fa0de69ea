"""Validation of merged values: the chart's JSON schema, then rules a schema cannot express.

Every problem is collected before anything is reported; each names its values path and rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from deploytool.core import paths, quantity
from deploytool.core.errors import Problem
from deploytool.render.components import active_components, remote_deps
from deploytool.render.redact import is_sensitive
from deploytool.render.schema import SchemaError, Validator

PROD_ENVS = ("prod", "production")
MINIO_DEFAULT_CREDENTIALS = ("minioadmin", "minioadmin")


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


INT32_MAX = 2**31 - 1


_DESCRIBE: dict[str, Callable[[Any], str]] = {
    "type": lambda v: f"must be of type {v}",
    "enum": lambda v: "must be one of " + ", ".join(map(str, v)),
    "const": lambda v: f"must be {v}",
    "minimum": lambda v: f"must be at least {v}",
    "maximum": lambda v: f"must be at most {v}",
    "minLength": lambda v: f"must be at least {v} characters long",
    "maxLength": lambda v: f"must be at most {v} characters long",
    "pattern": lambda v: "does not have the expected format",
    "minItems": lambda v: f"must have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
}


def _schema_message(err: SchemaError) -> str:
    """The schema validator's message, unless it would print a value that may be a credential or a whole mapping."""
    where = list(err.absolute_path)
    sensitive = is_sensitive(where)
    if not sensitive and not isinstance(err.instance, (dict, list)):
        if err.validator == "maximum" and err.validator_value == INT32_MAX:
            return f"{err.instance} is above {INT32_MAX}, the largest number Kubernetes accepts here (int32)"
        return err.message
    if err.validator == "required":
        return err.message  # names the missing key, not a value
    if err.validator in _DESCRIBE:
        text = _DESCRIBE[str(err.validator)](err.validator_value)
    elif err.validator == "not":
        text = str(err.schema.get("description") or "is not allowed here")
    elif err.validator == "contains":
        wanted = (err.validator_value or {}).get("const")
        text = f"must contain {wanted}" if wanted is not None else "lacks a required item"
    else:
        text = f"fails the schema's {err.validator} check"
    return f"{text} (value not shown)" if sensitive else text


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((paths.chart_dir() / "values.schema.json").read_text())
    return schema


def schema_problems(values: dict[str, Any]) -> list[Problem]:
    return problems_of(Validator(load_schema()).iter_errors(values))


def problems_of(errors: Iterable[SchemaError]) -> list[Problem]:
    """Schema errors as Problems: one per unknown key, messages that never show a sensitive value.

    Reads only the fields jsonschema's ValidationError has too (tests compare the two validators)."""
    problems: list[Problem] = []
    for err in errors:
        where = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set((err.schema.get("properties") or {}).keys())
            for extra in sorted(set(err.instance) - allowed):
                problems.append(Problem(_path([*where, extra]), "unknown key", "schema"))
            continue
        problems.append(Problem(_path(where), _schema_message(err), "schema"))
    return sorted(problems, key=lambda p: (p.path, p.message))


Rule = Callable[[str, dict[str, Any]], Iterator[Problem]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _workload_specs(values: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for comp in active_components(values):
        spec = values.get(comp.key)
        if isinstance(spec, dict):
            yield comp.key, spec


@rule
def limits_cover_requests(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for key, spec in _workload_specs(values):
        resources = spec.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for res in ("cpu", "memory", "ephemeral-storage"):
            if res not in requests or res not in limits:
                continue
            try:
                req, lim = quantity.parse(requests[res]), quantity.parse(limits[res])
            except ValueError:
                continue  # input_rules.quantities_valid names the malformed one
            if lim < req:
                yield Problem(f"{key}.resources.limits.{res}",
                              f"limit {limits[res]} is below the request {requests[res]}", "limits-cover-requests")


@rule
def hpa_bounds(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for key, spec in _workload_specs(values):
        hpa = spec.get("autoscaling") or {}
        if not hpa.get("enabled"):
            continue
        lo, hi = hpa.get("minReplicas"), hpa.get("maxReplicas")
        if isinstance(lo, int) and lo < 1:
            yield Problem(f"{key}.autoscaling.minReplicas", f"{lo} must be at least 1", "hpa-min-at-least-1")
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            yield Problem(f"{key}.autoscaling", f"minReplicas {lo} is above maxReplicas {hi}", "hpa-min-le-max")
        if key == "standalone":
            yield Problem(f"{key}.autoscaling.enabled", "standalone is a single StatefulSet and cannot autoscale",
                          "hpa-standalone")


def _replicas(spec: dict[str, Any]) -> int:
    hpa = spec.get("autoscaling") or {}
    if hpa.get("enabled") and isinstance(hpa.get("minReplicas"), int):
        return int(hpa["minReplicas"])
    return int(spec.get("replicas") or 0)


@rule
def required_anti_affinity_needs_replicas(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for key, spec in _workload_specs(values):
        if (spec.get("antiAffinity") or {}).get("type") == "required" and 0 < _replicas(spec) < 2:
            yield Problem(f"{key}.antiAffinity.type",
                          f"required anti-affinity with {_replicas(spec)} replica spreads nothing; "
                          "use >= 2 replicas or type preferred/off", "anti-affinity-replicas")


@rule
def rollout_can_progress(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for key, spec in _workload_specs(values):
        strategy = spec.get("strategy") or {}
        if strategy.get("maxSurge") in (0, "0", "0%") and strategy.get("maxUnavailable") in (0, "0", "0%"):
            yield Problem(f"{key}.strategy", "maxSurge and maxUnavailable are both 0: a rollout can never progress",
                          "rollout-progress")


@rule
def pdb_allows_disruption(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    for key, spec in _workload_specs(values):
        pdb = spec.get("pdb") or {}
        if not pdb.get("enabled"):
            continue
        min_available = pdb.get("minAvailable")
        if isinstance(min_available, int) and min_available >= _replicas(spec) > 0:
            yield Problem(f"{key}.pdb.minAvailable",
                          f"minAvailable {min_available} >= replicas {_replicas(spec)}: no pod could ever be evicted",
                          "pdb-allows-disruption")
        if min_available is None and pdb.get("maxUnavailable") in (0, "0", "0%"):
            yield Problem(f"{key}.pdb.maxUnavailable", "0 blocks every eviction (node drains hang)",
                          "pdb-allows-disruption")


def _unpinned(tag: object) -> bool:
    text = str(tag or "")
    return text in ("", "latest") or text.endswith("-latest")


@rule
def prod_image_pinned(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    if env not in PROD_ENVS:
        return
    tag = (values.get("image") or {}).get("tag", "")
    if _unpinned(tag):
        yield Problem("image.tag", f"'{tag or '(empty)'}' is not a pinned version; prod must pin the image",
                      "prod-image-pinned")
    for comp in active_components(values):
        own = ((values.get(comp.key) or {}).get("image") or {}).get("tag") if comp.milvus else None
        if own is not None and own != "" and _unpinned(own):
            yield Problem(f"{comp.key}.image.tag", f"'{own}' is not a pinned version; prod must pin the image",
                          "prod-image-pinned")


@rule
def no_credentials_in_values(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """Values end up in manifests/<env>/values.yaml and in helm's release record: never credentials."""
    creds = values.get("credentials") or {}
    for key in ("accessKey", "secretKey"):
        if creds.get(key) and creds.get(key) != "minioadmin":
            yield Problem(f"credentials.{key}", "credentials must not be in values (they would be written to "
                          "manifests and helm's release); use DEPLOYTOOL_S3_ACCESS_KEY/DEPLOYTOOL_S3_SECRET_KEY or "
                          "--credentials-file", "no-credentials-in-values")


@rule
def prod_no_default_credentials(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    creds = values.get("credentials") or {}
    pair = (creds.get("accessKey"), creds.get("secretKey"))
    if env in PROD_ENVS and (pair == MINIO_DEFAULT_CREDENTIALS or creds.get("secretKey") == "minioadmin"):
        yield Problem("credentials", "prod must not use MinIO's default credentials (minioadmin)",
                      "prod-default-credentials")


@rule
def external_dependencies_named(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    if not remote_deps(values):
        return
    etcd, minio = values.get("etcd") or {}, values.get("minio") or {}
    if not etcd.get("enabled") and not etcd.get("externalEndpoints"):
        yield Problem("etcd.externalEndpoints", "bundled etcd is disabled but no external endpoints are given",
                      "external-deps")
    if not minio.get("enabled") and not (values.get("externalS3") or {}).get("host"):
        yield Problem("externalS3.host", "bundled MinIO is disabled but no external S3 host is given",
                      "external-deps")
    mq = values.get("messageQueue") or {}
    if mq.get("type") == "kafka" and not (mq.get("kafka") or {}).get("brokerList"):
        yield Problem("messageQueue.kafka.brokerList", "kafka is selected but no brokers are given", "external-deps")
    if mq.get("type") == "pulsar" and not (mq.get("pulsar") or {}).get("host"):
        yield Problem("messageQueue.pulsar.host", "pulsar is selected but no host is given", "external-deps")


@rule
def name_overrides_unsupported(env: str, values: dict[str, Any]) -> Iterator[Problem]:
    """deploytool finds the release's objects by the chart's default names (core.config.Target: the
    credentials Secret "<fullname>-credentials", the client Service, the HPAs), so an override of the
    chart's name would make `up` write a Secret the chart does not read: refused, not half honoured."""
    for key in ("nameOverride", "fullnameOverride"):
        if values.get(key):
            yield Problem(key, "is not supported: deploytool addresses the release's objects by the chart's default "
                          "names (release '<release>' -> '<release>-milvus', or the release itself if it contains "
                          "'milvus'); choose the release name instead", "name-overrides-unsupported")


def validate(env: str, values: dict[str, Any]) -> list[Problem]:
    """Every problem at once: schema errors, then each semantic rule.

    A rule that trips over a shape the schema already refused is skipped, not reported twice.
    """
    problems = schema_problems(values)
    for check in RULES:
        try:
            problems.extend(list(check(env, values)))
        except (TypeError, AttributeError, ValueError):
            if not problems:
                raise
    return problems


# Rule modules register themselves into RULES with @rule when imported (kept last: they import this module).
from deploytool.render import contract_rules, input_rules  # noqa: E402,F401
