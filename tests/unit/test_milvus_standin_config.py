"""The Milvus stand-in reads its configuration the way Milvus does (pure parts, no processes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "milvus-standin"))

from milvus_standin import config  # noqa: E402
from milvus_standin.health import ABNORMAL, HEALTHY, INITIALIZING, STANDBY, STOPPING, HealthServer, health_state  # noqa: E402
from milvus_standin.roles import COMPONENTS, Role  # noqa: E402


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


@pytest.mark.parametrize(("expected", "codes", "ok", "state"), [
    (1, [HEALTHY], True, "OK"),
    (2, [STANDBY, HEALTHY], True, "OK"),
    (2, [HEALTHY, STOPPING], False, "Not all components are healthy, 1/2"),
    (1, [INITIALIZING], False, "Not all components are healthy, 0/1"),
    (1, [ABNORMAL], False, "Not all components are healthy, 0/1"),
    (1, [], False, "Not all components are registered, 0/1"),  # served from the start, before registering
    (5, [HEALTHY, HEALTHY], False, "Not all components are registered, 2/5"),
    (0, [], False, "Not all components are registered, 0/0"),
])
def test_healthz_state_follows_milvus(expected, codes, ok, state):
    assert health_state(expected, [(f"c{i}", c) for i, c in enumerate(codes)]) == (ok, state)


@pytest.mark.parametrize(("role", "components"), [
    ("proxy", ("proxy",)), ("mixcoord", ("mixcoord",)), ("querynode", ("querynode",)), ("datanode", ("datanode",)),
    ("streamingnode", ("querynode", "streamingnode")),  # a streamingnode embeds a querynode
    ("standalone", ("mixcoord", "querynode", "datanode", "proxy", "streamingnode")),
])
def test_each_component_registers_one_indicator_reporting_only_the_roles_own_state(role, components):
    """No dependency is asked: an unreachable etcd or MinIO changes nothing until the session is lost."""
    class Health:
        def __init__(self):
            self.indicators = []

        def register(self, indicator):
            self.indicators.append(indicator)

    health = Health()
    unreachable = config.load({"MILVUSCONF": "/nonexistent", "ETCD_ENDPOINTS": "127.0.0.1:1",
                               "MINIO_ADDRESS": "127.0.0.1", "MINIO_PORT": "1"})
    r = Role(role, unreachable)
    r.register_health(health)  # type: ignore[arg-type]
    assert [ind()[0] for ind in health.indicators] == list(components)
    assert {ind()[1] for ind in health.indicators} == {INITIALIZING}
    r.state = HEALTHY
    assert health_state(len(COMPONENTS[role]), [ind() for ind in health.indicators]) == (True, "OK")
    r.lost_etcd("session lease 7 expired")
    assert r.stop_event.is_set() and r.fatal == ["session lease 7 expired"]
    assert health_state(len(COMPONENTS[role]), [ind() for ind in health.indicators])[0] is False


def test_healthz_is_served_before_any_component_registers():
    import json
    import urllib.error
    import urllib.request

    server = HealthServer(0, 1)
    port = server.server.server_address[1]
    server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert err.value.code == 500 and err.value.read().decode() == "Not all components are registered, 0/1"
        state = {"code": INITIALIZING}
        server.register(lambda: ("proxy", state["code"]))
        state["code"] = HEALTHY
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
            assert json.loads(resp.read()) == {"state": "OK", "detail": [{"name": "proxy", "code": HEALTHY}]}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.stop()


# -- start-up retries follow Milvus's retry.Do ---------------------------------------------------

def test_bucket_check_retries_on_milvus_schedule_then_names_an_unready_store(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from milvus_standin import roles
    from milvus_standin.s3 import S3Error

    sleeps: list[float] = []
    monkeypatch.setattr(roles.time, "sleep", sleeps.append)

    def not_initialized() -> None:
        raise S3Error(503, "XMinioServerNotInitialized: Server not initialized yet")

    with pytest.raises(roles.StartupFailed) as failed:
        roles._retry("check object storage bucket", 20, not_initialized)
    assert sleeps == [0.2, 0.4, 0.8, 1.6] + [3.0] * 15  # 20 attempts, ~48 s, as Milvus's bucket check
    assert isinstance(failed.value.__cause__, S3Error) and failed.value.__cause__.status == 503


def test_bucket_check_stops_retrying_once_the_store_answers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from milvus_standin import roles
    from milvus_standin.s3 import S3Error

    monkeypatch.setattr(roles.time, "sleep", lambda s: None)
    answers = iter([S3Error(503, "not initialized"), S3Error(503, "not initialized"), None])

    def check() -> str:
        error = next(answers)
        if error:
            raise error
        return "ok"

    assert roles._retry("check", 20, check) == "ok"
