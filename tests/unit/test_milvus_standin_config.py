"""The Milvus stand-in reads its configuration the way Milvus does (pure parts, no processes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "milvus-standin"))

from milvus_standin import config  # noqa: E402
from milvus_standin.health import HEALTHY, STANDBY, STOPPING, HealthServer  # noqa: E402


@pytest.mark.parametrize(("key", "formatted"), [
    ("minio.accessKeyID", "minioaccesskeyid"),
    ("MINIO_ACCESS_KEY_ID", "minioaccesskeyid"),
    ("etcd.endpoints", "etcdendpoints"),
    ("ETCD_ENDPOINTS", "etcdendpoints"),
    ("milvus.proxy.port", "proxyport"),
    ("rootCoord.enableActiveStandby", "rootcoordenableactivestandby"),
])
def test_keys_are_formatted_like_milvus(key, formatted):
    assert config.format_key(key) == formatted


def write(tmp_path: Path, name: str, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
    return tmp_path


def test_user_yaml_overrides_milvus_yaml_and_env_overrides_both(tmp_path):
    write(tmp_path, "milvus.yaml", "minio:\n  address: a\n  port: 1\n  bucketName: from-milvus-yaml\n")
    write(tmp_path, "user.yaml", "minio:\n  address: b\n  bucketName: from-user-yaml\n")
    cfg = config.load({"MILVUSCONF": str(tmp_path), "MINIO_ADDRESS": "from-env",
                       "MILVUS_CONF_MINIO_PORT": "9"})
    assert cfg.problems == []
    assert cfg.get("minio.address") == "from-env"
    assert cfg.get("minio.bucketName") == "from-user-yaml"
    assert cfg.get_int("minio.port") == 9


def test_lists_are_comma_joined_and_defaults_fill_the_rest(tmp_path):
    write(tmp_path, "user.yaml", "etcd:\n  endpoints:\n    - e-0:2379\n    - e-1:2379\n")
    cfg = config.load({"MILVUSCONF": str(tmp_path)})
    assert cfg.get_list("etcd.endpoints") == ["e-0:2379", "e-1:2379"]
    assert cfg.get("etcd.rootPath") == "by-dev" and cfg.get("minio.bucketName") == "a-bucket"
    assert not cfg.has("minio.bucketName")


@pytest.mark.parametrize(("files", "problem"), [
    ({}, "all config files not exists"),
    ({"user.yaml": "etcd: [unclosed\n"}, "unmarshal yaml file"),
    ({"user.yaml": "- a list\n"}, "not a map"),
])
def test_unusable_config_falls_back_to_code_defaults_and_says_why(tmp_path, files, problem):
    for name, text in files.items():
        write(tmp_path, name, text)
    cfg = config.load({"MILVUSCONF": str(tmp_path / "missing" if not files else tmp_path)})
    assert any(problem in p for p in cfg.problems)
    assert cfg.get("etcd.endpoints") == "localhost:2379"


@pytest.mark.parametrize(("codes", "ok", "state"), [
    ([HEALTHY, HEALTHY], True, "OK"),
    ([STANDBY, HEALTHY], True, "OK"),
    ([HEALTHY, STOPPING], False, "Not all components are healthy, 1/2"),
    ([], False, "Not all components are registered, 0/0"),
])
def test_healthz_state_follows_milvus(codes, ok, state):
    server = HealthServer.__new__(HealthServer)
    server.indicators = [lambda c=c, i=i: (f"c{i}", c) for i, c in enumerate(codes)]
    assert server.check()[:2] == (ok, state)
