"""The Milvus stand-in keeps each part of Milvus's runtime contract, shown with real etcd and MinIO.

Every test starts real processes on loopback (etcd, MinIO, milvus-lite, `milvus run <role>`) and
asserts what a Kubernetes probe, a kubelet or a client would see: exit codes, /healthz, etcd keys,
query results.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest
from standin_procs import (
    cluster_config,
    free_port,
    minio_env,
    session_keys,
    start_etcd,
    stop,
)

pytestmark = pytest.mark.standin


def _port_in_use(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("user_yaml", [None, "etcd: [endpoints: {unclosed\n"], ids=["missing", "unparseable"])
def test_role_fails_like_milvus_without_a_usable_user_yaml(standins, user_yaml):
    if _port_in_use(2379):
        pytest.skip("something listens on localhost:2379 (Milvus's default etcd endpoint) on this machine")
    role = standins("querynode", {}, start=False)
    if user_yaml is not None:
        (role.workdir / "configs").mkdir()
        (role.workdir / "configs" / "user.yaml").write_text(user_yaml)
    role.start(write_config=False)
    assert role.wait_exit(30) != 0
    logs = role.logs()
    assert "THIS IS A STAND-IN for Milvus" in logs
    assert "init baseTable with file failed" in logs
    assert ("all config files not exists" if user_yaml is None else "unmarshal yaml file") in logs
    assert "failed to connect to etcd localhost:2379" in logs


# -- object storage -----------------------------------------------------------------------------

def test_wrong_minio_key_fails_the_start(standins, etcd, minio):
    role = standins("querynode", cluster_config(etcd, minio), env=minio_env(password="not-the-secret-key"))
    assert role.wait_exit(150) == 1  # Milvus retries the bucket check 20 times (~48 s) before giving up
    logs = role.logs()
    assert "refused access key" in logs
    assert "SignatureDoesNotMatch" in logs


def test_role_with_the_right_key_registers_and_is_healthy(standins, etcd, minio):
    config = cluster_config(etcd, minio)
    role = standins("querynode", config, env=minio_env())
    role.wait_healthy()
    status, body = role.healthz(json_detail=True)
    detail = {d["name"]: d["code"] for d in json.loads(body)["detail"]}
    assert status == 200 and detail == {"querynode": 1}  # one indicator per component, its own state (Milvus)
    assert role.livez() == 200
    sessions = session_keys(etcd, config["etcd"]["rootPath"])
    [name] = [k for k in sessions if k.startswith("querynode-")]
    assert sessions[name]["Exclusive"] is False and sessions[name]["ServerName"] == "querynode"
    assert "id" in sessions  # the server-id counter


# -- memory (the STANDIN_MEMORY_MB knob) ---------------------------------------------------------

def _rss_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024


def test_memory_knob_makes_the_role_hold_that_much_resident_memory(standins, etcd, minio):
    plain = standins("querynode", cluster_config(etcd, minio), env=minio_env())
    holding = standins("querynode", cluster_config(etcd, minio), env={**minio_env(), "STANDIN_MEMORY_MB": "96"})
    plain.wait_healthy()
    holding.wait_healthy()
    assert _rss_mib(holding.proc.pid) - _rss_mib(plain.proc.pid) >= 90
    assert "holding 96 MiB" in holding.logs() and "STANDIN_MEMORY_MB" not in plain.logs()


def test_memory_knob_that_is_not_a_number_fails_the_start(standins, etcd, minio):
    role = standins("querynode", cluster_config(etcd, minio), env={**minio_env(), "STANDIN_MEMORY_MB": "lots"})
    assert role.wait_exit(30) == 1
    assert "$STANDIN_MEMORY_MB='lots' is not a whole number of MiB" in role.logs()


# -- mixcoord's exclusive session -----------------------------------------------------------------

def test_second_mixcoord_without_active_standby_fails(standins, etcd, minio):
    config = cluster_config(etcd, minio)
    first = standins("mixcoord", config, env=minio_env())
    first.wait_healthy()
    second = standins("mixcoord", config, env=minio_env())
    assert second.wait_exit(60) == 1
    assert "Register failed" in second.logs()
    assert first.healthz()[0] == 200
    assert session_keys(etcd, config["etcd"]["rootPath"])["mixcoord"]["Address"].endswith(f":{first.port}")


def test_second_mixcoord_with_active_standby_waits_then_takes_over(standins, etcd, minio):
    config = cluster_config(etcd, minio, rootCoord__enableActiveStandby=True)
    first = standins("mixcoord", config, env=minio_env())
    first.wait_healthy()
    second = standins("mixcoord", config, env=minio_env())
    second.wait_healthy()  # a STANDBY mixcoord is healthy (code 3), as in Milvus
    codes = {d["name"]: d["code"] for d in json.loads(second.healthz(json_detail=True)[1])["detail"]}
    assert codes["mixcoord"] == 3
    first.proc.terminate()
    assert first.wait_exit(20) == 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        codes = {d["name"]: d["code"] for d in json.loads(second.healthz(json_detail=True)[1])["detail"]}
        if codes["mixcoord"] == 1:
            break
        time.sleep(0.3)
    assert codes["mixcoord"] == 1, second.logs()[-2000:]
    assert "quit STANDBY mode, this node will become ACTIVE" in second.logs()


# -- woodpecker's conditional-write check --------------------------------------------------------

def test_streamingnode_starts_on_minio_with_conditional_writes(standins, etcd, minio):
    role = standins("streamingnode", cluster_config(etcd, minio), env=minio_env())
    role.wait_healthy()
    assert "Condition write verification succeeded" in role.logs()


def test_streamingnode_crash_loops_on_a_store_without_conditional_writes(standins, etcd,
                                                                         no_conditional_writes_store):
    config = cluster_config(etcd, no_conditional_writes_store)
    for _ in range(2):  # every restart fails the same way: a crash loop under a kubelet
        role = standins("streamingnode", config, env=minio_env())
        assert role.wait_exit(60) == 1
        logs = role.logs()
        assert "does not support conditional writes (If-None-Match: *)" in logs
        assert "condition write verification failed after 10 attempts" in logs


def test_streamingnode_skips_the_check_when_conditional_writes_are_disabled(standins, etcd,
                                                                            no_conditional_writes_store):
    config = cluster_config(etcd, no_conditional_writes_store)
    config["woodpecker"]["logstore"] = {"fencePolicy": {"conditionWrite": "disable"}}
    role = standins("streamingnode", config, env=minio_env())
    role.wait_healthy()
    assert "Condition write is explicitly disabled" in role.logs()


# -- /healthz: the components' own state, and the session's liveness ------------------------------

def test_healthz_asks_no_dependency_and_the_role_exits_when_its_session_expires(standins, minio, tmp_path):
    own_etcd = start_etcd(tmp_path / "etcd")
    try:
        role = standins("datanode", cluster_config(own_etcd, minio), env=minio_env())
        role.wait_healthy()
        stop(own_etcd.proc)
        started = time.monotonic()
        status, body = role.healthz()
        assert (status, body) == (200, "OK")  # Milvus's /healthz reports state codes, it probes nothing
        assert role.livez() == 200
        assert role.wait_exit(30) == 1  # session ttl 4 s: Milvus exits when its session is lost
        assert time.monotonic() - started >= 3.0, "exited before the session's ttl ran out"
        assert "datanode disconnected from etcd, process will exit" in role.logs()
    finally:
        stop(own_etcd.proc)


# -- graceful stop -------------------------------------------------------------------------------

def test_sigterm_waits_for_a_request_in_flight_up_to_the_graceful_stop_timeout(standins, etcd, minio, engine):
    config = cluster_config(etcd, minio, proxy__gracefulStopTimeout=3)
    proxy = standins("proxy", config, env={**minio_env(), "STANDIN_ENGINE_ADDRESS": engine.address})
    proxy.wait_healthy()
    idle = socket.create_connection(("127.0.0.1", proxy.port))  # an idle client connection: closed at stop
    busy = socket.create_connection(("127.0.0.1", proxy.port))
    stop_sending = threading.Event()

    def trickle() -> None:  # a client still talking: the HTTP/2 preface, one byte every 0.3 s
        for byte in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n":
            if stop_sending.wait(0.3):
                return
            try:
                busy.sendall(bytes([byte]))
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        time.sleep(0.5)
        start = time.monotonic()
        proxy.proc.terminate()
        time.sleep(1.5)
        assert proxy.proc.poll() is None, "the proxy quit before its graceful stop timeout"
        code = proxy.wait_exit(10)
        elapsed = time.monotonic() - start
    finally:
        stop_sending.set()
        idle.close()
        busy.close()
    assert 2.8 <= elapsed <= 6, elapsed
    assert code == 1
    logs = proxy.logs()
    assert "timeout_seconds=3.0" in logs
    assert "graceful stop timed out, force quit] [open_connections=1]" in logs


def test_sigterm_without_open_work_stops_at_once_with_the_common_timeout(standins, etcd, minio):
    config = cluster_config(etcd, minio, common__gracefulStopTimeout=1800)
    config["common"].update({"storageType": "remote", "session": {"ttl": 4, "retryTimes": 3}})
    role = standins("querynode", config, env=minio_env())
    role.wait_healthy()
    start = time.monotonic()
    role.proc.terminate()
    assert role.wait_exit(10) == 0
    assert time.monotonic() - start < 5
    assert "timeout_seconds=1800.0" in role.logs() and "graceful stop done" in role.logs()
    assert not [k for k in session_keys(etcd, config["etcd"]["rootPath"]) if k.startswith("querynode-")]


# -- the Milvus API through the proxies, and standalone ------------------------------------------

def test_pymilvus_round_trip_through_two_proxies_sharing_one_engine(standins, etcd, minio, engine):
    pymilvus = pytest.importorskip("pymilvus")
    config = cluster_config(etcd, minio)
    env = {**minio_env(), "STANDIN_ENGINE_ADDRESS": engine.address}
    first, second = standins("proxy", config, env=env), standins("proxy", config, env=env)
    first.wait_healthy()
    second.wait_healthy()
    name = f"standin_{uuid.uuid4().hex[:8]}"
    writer = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{first.port}")
    writer.create_collection(name, dimension=4)
    writer.insert(name, [{"id": i, "vector": [float(i), 1.0, 0.0, 0.0]} for i in range(10)])
    reader = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{second.port}")
    hits = reader.search(name, data=[[9.0, 1.0, 0.0, 0.0]], limit=1)
    assert hits[0][0]["id"] == 9
    assert reader.get(name, ids=[3])[0]["id"] == 3
    writer.drop_collection(name)


def test_standalone_runs_the_engine_with_its_data_on_its_volume(standins, tmp_path):
    pymilvus = pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    volume = tmp_path / "volume"
    config = {"etcd": {"use": {"embed": True}, "data": {"dir": str(volume / "etcd")}},
              "common": {"storageType": "local", "gracefulStopTimeout": 10},
              "localStorage": {"path": str(volume / "data")}, "mq": {"type": "woodpecker"},
              "woodpecker": {"storage": {"type": "local", "rootPath": str(volume / "woodpecker")}}}
    standalone = standins("standalone", config)
    standalone.wait_healthy(timeout=120)
    client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{standalone.port}")
    client.create_collection("kept", dimension=2)
    client.insert("kept", [{"id": 1, "vector": [0.5, 0.5]}])
    client.flush("kept")
    client.close()
    standalone.proc.terminate()
    assert standalone.wait_exit(30) == 0
    assert (volume / "data" / "standin-milvus-lite").is_dir()
    again = standins("standalone", config)
    again.wait_healthy(timeout=120)
    client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{again.port}")
    assert client.has_collection("kept")
    client.load_collection("kept")
    assert client.get("kept", ids=[1])[0]["id"] == 1


def test_proxy_healthz_is_its_own_state_whatever_the_engine(standins, etcd, minio):
    """The shared engine is the stand-in's scaffolding, not a Milvus dependency: as Milvus's proxy
    reports only its own state code, the proxy is healthy while the engine does not answer."""
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    proxy = standins("proxy", cluster_config(etcd, minio), env={**minio_env(), "STANDIN_ENGINE_ADDRESS": dead})
    proxy.wait_healthy()
    status, body = proxy.healthz(json_detail=True)
    assert status == 200 and json.loads(body) == {"state": "OK", "detail": [{"name": "proxy", "code": 1}]}, body


def test_proxy_without_an_engine_address_refuses_to_start(standins, etcd, minio):
    proxy = standins("proxy", cluster_config(etcd, minio), env=minio_env())
    assert proxy.wait_exit(30) == 1
    assert "proxy needs the shared engine's host:port in $STANDIN_ENGINE_ADDRESS" in proxy.logs()


def test_etcd_endpoints_fail_over_to_a_member_that_answers(standins, etcd, minio):
    config = cluster_config(etcd, minio)
    config["etcd"]["endpoints"] = [f"127.0.0.1:{free_port()}", etcd.address]  # first member down
    role = standins("querynode", config, env=minio_env())
    role.wait_healthy()
    assert [k for k in session_keys(etcd, config["etcd"]["rootPath"]) if k.startswith("querynode-")]


def test_restarted_mixcoord_on_the_same_address_replaces_its_stale_session(standins, etcd, minio):
    """A container restarted in place (same pod IP and port) finds its old session still leased: like
    Milvus it purges a session with its own address and a lower server id instead of waiting it out."""
    config = cluster_config(etcd, minio)
    config["common"]["session"] = {"ttl": 60, "retryTimes": 3}
    first = standins("mixcoord", config, env=minio_env())
    first.wait_healthy()
    first.proc.kill()  # no graceful stop: the session key stays until its 60 s lease expires
    first.wait_exit(10)
    assert "mixcoord" in session_keys(etcd, config["etcd"]["rootPath"])
    again = standins("mixcoord", config, env={**minio_env(), "ROOTCOORD_PORT": str(first.port)})
    start = time.monotonic()
    again.wait_healthy(timeout=30)
    assert time.monotonic() - start < 20
    assert "purge old session" in again.logs()
