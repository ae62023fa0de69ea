"""Milvus's configuration model, as far as the stand-in needs it.

Milvus (pkg/util/paramtable/base_table.go, pkg/config/) reads milvus.yaml, _test.yaml, default.yaml
and user.yaml, in that order, from $MILVUSCONF (else <cwd>/configs), skipping missing files; keys
are flattened with dots and looked up case-insensitively with '.', '_' and '/' removed, so the
environment variable MINIO_ACCESS_KEY_ID overrides minio.accessKeyID (a leading `milvus.` and a
MILVUS_CONF_ prefix are dropped too). The environment outranks the files; code defaults come last.
Lists (etcd.endpoints) become comma-joined strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

YAML_FILES = ("milvus.yaml", "_test.yaml", "default.yaml", "user.yaml")
ENV_PREFIX = "MILVUS_CONF_"

# Milvus's own defaults for the keys the stand-in reads (configs/milvus.yaml,
# pkg/util/paramtable/base_table.go); our image ships no milvus.yaml, so they live here.
DEFAULTS: dict[str, str] = {
    "etcd.endpoints": "localhost:2379",
    "etcd.rootPath": "by-dev",
    "etcd.metaSubPath": "meta",
    "etcd.use.embed": "false",
    "etcd.data.dir": "default.etcd",
    "common.storageType": "remote",
    "localStorage.path": "/var/lib/milvus/data/",
    "minio.address": "localhost",
    "minio.port": "9000",
    "minio.accessKeyID": "minioadmin",
    "minio.secretAccessKey": "minioadmin",
    "minio.useSSL": "false",
    "minio.bucketName": "a-bucket",
    "minio.rootPath": "files",
    "minio.region": "",
    "mq.type": "default",
    "common.session.ttl": "30",
    "common.session.retryTimes": "30",
    "common.gracefulStopTimeout": "1800",
    "rootCoord.enableActiveStandby": "false",
    "rootCoord.port": "53100",
    "proxy.port": "19530",
    "queryNode.port": "21123",
    "dataNode.port": "21124",
    "streamingNode.port": "22222",
    "woodpecker.storage.type": "minio",
    "woodpecker.logstore.fencePolicy.conditionWrite": "auto",
}


def format_key(key: str) -> str:
    """Milvus's key normalisation: lower-case, no leading 'milvus.', no '/', '_' or '.'."""
    out = key.lower()
    if out.startswith("milvus."):
        out = out[len("milvus."):]
    for sep in ("/", "_", "."):
        out = out.replace(sep, "")
    return out


def flatten(prefix: str, node: Any, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
        return
    if isinstance(node, list):
        value = ",".join("" if v is None else _scalar(v) for v in node)
    else:
        value = "" if node is None else _scalar(node)
    out[format_key(prefix)] = value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConfigError(Exception):
    pass


@dataclass
class Config:
    config_dir: Path
    files_used: list[Path] = field(default_factory=list)
    file_values: dict[str, str] = field(default_factory=dict)
    env_values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # files Milvus would refuse, with why

    def get(self, key: str, default: str | None = None) -> str:
        fkey = format_key(key)
        for source in (self.env_values, self.file_values):
            if fkey in source:
                return source[fkey]
        if default is not None:
            return default
        for dkey, dvalue in DEFAULTS.items():
            if format_key(dkey) == fkey:
                return dvalue
        return ""

    def has(self, key: str) -> bool:
        fkey = format_key(key)
        return fkey in self.env_values or fkey in self.file_values

    def get_bool(self, key: str) -> bool:
        return self.get(key).strip().lower() in ("true", "1", "yes", "on")

    def get_int(self, key: str) -> int:
        raw = self.get(key).strip()
        try:
            return int(float(raw))
        except ValueError as exc:
            raise ConfigError(f"{key}={raw!r} is not a number") from exc

    def get_list(self, key: str) -> list[str]:
        return [part.strip() for part in self.get(key).split(",") if part.strip()]


def config_dir(env: dict[str, str] | None = None) -> Path:
    source = dict(os.environ) if env is None else env
    return Path(source.get("MILVUSCONF") or Path.cwd() / "configs")


def load(env: dict[str, str] | None = None) -> Config:
    """Read the config files and environment the way Milvus does.

    Like Milvus, a missing file is skipped and a file that cannot be read as YAML makes the whole
    file source unusable (Milvus logs "init baseTable with file failed" and goes on with its
    code defaults); `problems` says which and why, so the caller can say it plainly.
    """
    env = dict(os.environ) if env is None else env
    cfg = Config(config_dir=config_dir(env))
    merged: dict[str, str] = {}
    present = [cfg.config_dir / name for name in YAML_FILES if (cfg.config_dir / name).exists()]
    if not present:
        cfg.problems.append(f"all config files not exists, files: {[str(cfg.config_dir / n) for n in YAML_FILES]}")
    for path in present:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            cfg.problems.append(f"unmarshal yaml file {path} failed: {str(exc).splitlines()[0]}")
            merged = {}
            break
        if data is None:
            data = {}
        if not isinstance(data, dict):
            cfg.problems.append(f"unmarshal yaml file {path} failed: top level is {type(data).__name__}, not a map")
            merged = {}
            break
        flatten("", data, merged)
        cfg.files_used.append(path)
    if cfg.problems:
        cfg.files_used = []
    cfg.file_values = merged
    for name, value in env.items():
        cfg.env_values[format_key(name)] = value
    for name, value in env.items():  # MILVUS_CONF_MINIO_PORT overrides MINIO_PORT
        if name.startswith(ENV_PREFIX):
            cfg.env_values[format_key(name[len(ENV_PREFIX):])] = value
    return cfg
