"""`milvus run <role>`: start a role's dependencies, register it, serve, and stop it gracefully."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from milvus_standin import STANDIN_BANNER, config, log, woodpecker
from milvus_standin.engine import Engine
from milvus_standin.etcd import Etcd, EtcdError
from milvus_standin.health import ABNORMAL, HEALTHY, INITIALIZING, STANDBY, STOPPING, HealthServer, listen_port
from milvus_standin.relay import Relay
from milvus_standin.s3 import S3, S3Error
from milvus_standin.session import Session, SessionConflict

ROLES = ("proxy", "mixcoord", "querynode", "datanode", "streamingnode", "standalone")
# The gracefulStopTimeout keys that bound a role's stop (docs/milvus-contract.md F8): mixcoord stops
# rootCoord, queryCoord and dataCoord in turn; streamingnode and standalone have no key of their own.
STOP_KEYS = {"proxy": ("proxy",), "mixcoord": ("rootCoord", "queryCoord", "dataCoord"), "querynode": ("queryNode",),
             "datanode": ("dataNode",), "streamingnode": (), "standalone": ()}
PORT_KEY = {"proxy": "proxy.port", "mixcoord": "rootCoord.port", "querynode": "queryNode.port",
            "datanode": "dataNode.port", "streamingnode": "streamingNode.port", "standalone": "proxy.port"}
# The components `milvus run <role>` enables, in the order Milvus starts them (cmd/milvus/util.go
# GetMilvusRoles, cmd/roles/roles.go Run): each registers one /healthz indicator.
COMPONENTS = {"proxy": ("proxy",), "mixcoord": ("mixcoord",), "querynode": ("querynode",),
              "datanode": ("datanode",), "streamingnode": ("querynode", "streamingnode"),
              "standalone": ("mixcoord", "querynode", "datanode", "proxy", "streamingnode")}
ENGINE_ENV = "STANDIN_ENGINE_ADDRESS"  # host:port of the shared milvus-lite engine (proxy)
ENGINE_KEY = "standin.engineAddress"
# A stand-in knob, not Milvus's: MiB the role allocates, writes and holds from its start. The stand-in
# keeps no segments, so its memory is small and flat; this stands in for the memory a real querynode
# holds for loaded segments, so a memory limit below it is exceeded for real (the kernel OOM-kills).
MEMORY_ENV = "STANDIN_MEMORY_MB"


class StartupFailed(Exception):
    pass


def _retry(what: str, attempts: int, fn, first_sleep: float = 0.2, max_sleep: float = 3.0):  # type: ignore[no-untyped-def]
    """Milvus's retry.Do (pkg/util/retry): the first sleep 200 ms, doubled after each failure, at most
    3 s. With the bucket check's 20 attempts that is about 48 s before the role gives up."""
    sleep, last = first_sleep, None
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (EtcdError, S3Error, OSError) as exc:
            last = exc
            log.warn(f"{what} failed, will retry", attempt=attempt, attempts=attempts, error=str(exc))
            if attempt < attempts:
                time.sleep(sleep)
                sleep = min(sleep * 2, max_sleep)
    raise StartupFailed(f"{what} failed after {attempts} attempts: {last}") from last


def local_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


@dataclass
class Role:
    name: str
    cfg: config.Config
    state: int = INITIALIZING
    stop_event: threading.Event = field(default_factory=threading.Event)
    fatal: list[str] = field(default_factory=list)
    etcd: Etcd | None = None
    store: S3 | None = None
    bucket: str = ""
    session: Session | None = None
    engine: Engine | None = None
    relay: Relay | None = None
    listener: socket.socket | None = None
    health: HealthServer | None = None
    memory: bytes = b""

    # -- dependencies -------------------------------------------------------------------------
    @property
    def embedded_etcd(self) -> bool:
        return self.name == "standalone" and self.cfg.get_bool("etcd.use.embed")

    @property
    def remote_storage(self) -> bool:
        return self.cfg.get("common.storageType").lower() in ("remote", "minio", "opendal")

    def connect_etcd(self) -> None:
        if self.cfg.get_bool("etcd.auth.enabled"):
            raise StartupFailed("etcd.auth.enabled is true: the stand-in does not implement etcd authentication")
        endpoints = self.cfg.get_list("etcd.endpoints")
        self.etcd = Etcd(endpoints)
        deadline = time.monotonic() + float(os.environ.get("STANDIN_CONNECT_TIMEOUT", "60"))
        while True:
            try:
                self.etcd.ping(timeout=2.0)
                log.info("connected to etcd", endpoints=",".join(endpoints))
                return
            except EtcdError as exc:
                if time.monotonic() > deadline:
                    raise StartupFailed(f"failed to connect to etcd {','.join(endpoints)}: {exc}") from exc
                log.warn("Session try to connect to etcd failed, will retry", error=str(exc))
                time.sleep(1.0)

    def connect_storage(self) -> None:
        access = self.cfg.get("minio.accessKeyID")
        self.store = S3(host=self.cfg.get("minio.address"), port=self.cfg.get_int("minio.port"),
                        access_key=access, secret_key=self.cfg.get("minio.secretAccessKey"),
                        region=self.cfg.get("minio.region") or "us-east-1", use_ssl=self.cfg.get_bool("minio.useSSL"))
        self.bucket = self.cfg.get("minio.bucketName")
        where = f"{self.store.host}:{self.store.port}/{self.bucket}"

        def check_bucket() -> None:
            assert self.store is not None
            if not self.store.bucket_exists(self.bucket, timeout=5):
                log.info("blob bucket not exist, create bucket.", bucket=self.bucket)
                self.store.make_bucket(self.bucket)

        try:
            _retry(f"check object storage bucket {where}", 20, check_bucket)
        except StartupFailed as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.status == 403:
                raise StartupFailed(f"object storage {where} refused access key {access!r}: {exc}") from exc
            raise StartupFailed(f"object storage {where} not usable: {exc}") from exc
        log.info("object storage ready", bucket=where, rootPath=self.cfg.get("minio.rootPath"))

    def check_conditional_writes(self) -> None:
        wal = self.cfg.get("mq.type").lower() == "woodpecker"
        on_minio = self.cfg.get("woodpecker.storage.type").lower() == "minio"
        if not (wal and on_minio and self.remote_storage and self.name in ("streamingnode", "standalone")):
            return
        if self.cfg.get("woodpecker.logstore.fencePolicy.conditionWrite").lower() == "disable":
            log.info("Condition write is explicitly disabled, skipping detection")
            return
        assert self.store is not None
        woodpecker.check(self.store, self.bucket, self.cfg.get("minio.rootPath"))

    # -- session ------------------------------------------------------------------------------
    def active_standby(self) -> bool:
        if self.name not in ("mixcoord", "standalone"):
            return False
        if self.cfg.has("mixCoord.enableActiveStandby"):
            return self.cfg.get_bool("mixCoord.enableActiveStandby")
        return self.cfg.get_bool("rootCoord.enableActiveStandby")

    def register(self, port: int) -> None:
        assert self.etcd is not None
        meta_root = f"{self.cfg.get('etcd.rootPath')}/{self.cfg.get('etcd.metaSubPath')}"
        server_name = "mixcoord" if self.name == "standalone" else self.name
        self.session = Session(
            etcd=self.etcd, meta_root=meta_root, server_name=server_name, address=f"{local_ip()}:{port}",
            exclusive=server_name == "mixcoord", active_standby=self.active_standby(),
            ttl=self.cfg.get_int("common.session.ttl"), retry_times=self.cfg.get_int("common.session.retryTimes"),
            version=os.environ.get("STANDIN_MILVUS_VERSION", "0.0.0-standin"))
        self.session.init()
        self.session.register()
        threading.Thread(target=self.session.keepalive_forever, args=(self.lost_etcd,), daemon=True,
                         name="keepalive").start()

    def lost_etcd(self, reason: str) -> None:
        """The session's lease is gone: Milvus's LivenessCheck callback stops the component and exits."""
        log.error(f"{self.name} disconnected from etcd, process will exit", reason=reason)
        self.state = ABNORMAL
        self.fatal.append(reason)
        self.stop_event.set()

    # -- health -------------------------------------------------------------------------------
    def register_health(self, health: HealthServer) -> None:
        """One indicator per component this process runs, each its own state code (as Milvus's
        components answer GetComponentStates): no dependency is probed when /healthz is asked."""
        self.health = health
        for component in COMPONENTS[self.name]:
            health.register(self._indicator(component))

    def _indicator(self, component: str) -> Callable[[], tuple[str, int]]:
        return lambda: (component, self.state)

    # -- lifecycle ----------------------------------------------------------------------------
    def serve_port(self, port: int) -> None:
        """Hold the role's gRPC port (the stand-in serves no internal RPC on it)."""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("0.0.0.0", port))
        self.listener.listen(16)

    def hold_memory(self) -> None:
        """$STANDIN_MEMORY_MB MiB, every page written (so resident, charged to the container's cgroup)."""
        raw = os.environ.get(MEMORY_ENV, "").strip()
        if not raw:
            return
        try:
            mib = int(raw)
        except ValueError as exc:
            raise StartupFailed(f"${MEMORY_ENV}={raw!r} is not a whole number of MiB") from exc
        log.info(f"allocating {mib} MiB and holding it (${MEMORY_ENV}, a stand-in knob standing for the memory "
                 "Milvus holds for loaded data)", role=self.name)
        self.memory = b"\x5a" * (mib << 20)  # a filled buffer: every page is touched, none is lazily zero
        log.info(f"holding {len(self.memory) >> 20} MiB", role=self.name)

    def start(self) -> None:
        port = self.cfg.get_int(PORT_KEY[self.name])
        self.hold_memory()
        if not self.embedded_etcd:
            self.connect_etcd()
        if self.remote_storage:
            self.connect_storage()
        self.check_conditional_writes()
        if self.name == "proxy":
            address = os.environ.get(ENGINE_ENV) or self.cfg.get(ENGINE_KEY)
            if not address or ":" not in address:
                raise StartupFailed(f"proxy needs the shared engine's host:port in ${ENGINE_ENV} or {ENGINE_KEY}")
            host, engine_port = address.rsplit(":", 1)
            self.relay = Relay(port, host, int(engine_port))
        elif self.name == "standalone":
            data_dir = Path(self.cfg.get("localStorage.path")) / "standin-milvus-lite"
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                engine_port = probe.getsockname()[1]
            self.engine = Engine(data_dir, "127.0.0.1", engine_port)
            self.engine.start()
            self.relay = Relay(port, "127.0.0.1", engine_port)
        else:
            self.serve_port(port)
        if self.etcd is not None:
            self.register(port)
        if self.relay is not None:
            self.relay.start()
        if self.session is not None and self.session.active_standby:
            self.session.wait_active(on_standby=lambda: setattr(self, "state", STANDBY))
        self.state = HEALTHY
        log.info(f"{self.name} is ready (stand-in)", port=port, healthz=f":{listen_port()}/healthz")

    def graceful_stop_timeout(self) -> float:
        """The role's own keys (summed for mixcoord), each falling back to common.gracefulStopTimeout."""
        common = float(self.cfg.get("common.gracefulStopTimeout"))
        keys = [f"{section}.gracefulStopTimeout" for section in STOP_KEYS[self.name]]
        if not keys:
            return common
        return sum(float(self.cfg.get(key)) if self.cfg.has(key) else common for key in keys)

    def stop(self) -> bool:
        """Graceful stop within the configured timeout. True when everything drained in time."""
        timeout = self.graceful_stop_timeout()
        deadline = time.monotonic() + timeout
        log.info("graceful stop", role=self.name, timeout_seconds=timeout)
        self.state = STOPPING
        if self.session is not None:
            self.session.going_stop()
        drained = True
        if self.relay is not None:
            self.relay.stop_accepting()
            drained = self.relay.drain(deadline)
            if not drained:
                log.warn("graceful stop timed out, force quit", open_connections=self.relay.active,
                         timeout_seconds=timeout)
                self.relay.close_all()
        if self.engine is not None:
            self.engine.stop(timeout=max(1.0, deadline - time.monotonic()))
        if self.listener is not None:
            self.listener.close()
        if self.session is not None:
            self.session.revoke()
        if self.health is not None:
            self.health.stop()
        log.info("graceful stop done" if drained else "stopped after the graceful stop timeout", role=self.name)
        return drained


def run(role_name: str) -> int:
    log.info(STANDIN_BANNER, role=role_name)
    cfg = config.load()
    if cfg.problems:
        for problem in cfg.problems:
            log.warn("init baseTable with file failed: continuing with Milvus's code defaults, as Milvus does",
                     configDir=str(cfg.config_dir), error=problem)
    else:
        log.info("configuration loaded", files=",".join(str(p) for p in cfg.files_used))
    role = Role(role_name, cfg)
    # Milvus serves 9091 before any component runs (cmd/roles/roles.go: http.ServeHTTP() before
    # runComponent); until the components register, /healthz says "Not all components are registered".
    try:
        health = HealthServer(listen_port(), len(COMPONENTS[role_name]))
    except OSError as exc:
        log.error(f"{role_name} failed to start: cannot serve :{listen_port()}", error=str(exc))
        return 1
    health.start()
    role.register_health(health)

    def on_signal(signum: int, frame: object) -> None:
        log.info("received signal, stopping", signal=signum)
        role.stop_event.set()
        if role.session is not None:
            role.session._stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        role.start()
    except (StartupFailed, SessionConflict, woodpecker.ConditionalWriteUnsupported, config.ConfigError,
            EtcdError, S3Error, OSError, RuntimeError) as exc:
        log.error(f"{role_name} failed to start", error=str(exc))
        if role.engine is not None:
            role.engine.stop()
        return 1
    while not role.stop_event.wait(1.0):
        if role.engine is not None and role.engine.proc is not None and role.engine.proc.poll() is not None:
            log.error("the Milvus engine (milvus-lite) exited", code=role.engine.proc.returncode)
            role.fatal.append("engine exited")
            break
    if role.fatal:
        if role.engine is not None:
            role.engine.stop(timeout=5)
        return 1
    return 0 if role.stop() else 1
