"""The Milvus stand-in image's content runs the chart's command: the image's layer, unpacked and
entered with chroot (same network, so loopback etcd/MinIO answer), runs `milvus run <role>` with
the image's own Python, PATH and working directory -- nothing from the host's Python.

Also what the chart needs from the etcd and MinIO images: the binary where the chart's command
finds it. (Running them as pods is the real-nodes cluster tier's part.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from standin_procs import cluster_config, minio_env

from deploytool.clusters.local import images, standin_images
from deploytool.core.errors import ToolMissing

pytestmark = pytest.mark.standin


def _need(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _archive_parts(archive: Path) -> tuple[dict, bytes]:
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> bytes:
            member = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert member is not None
            return member.read()

        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        return config, blob(manifest["layers"][0]["digest"])


def _unpack(archive: Path, into: Path) -> dict:
    config, layer = _archive_parts(archive)
    into.mkdir(parents=True)
    (into.parent / "layer.tar.gz").write_bytes(layer)
    with tarfile.open(into.parent / "layer.tar.gz") as tar:
        tar.extractall(into, filter="fully_trusted")
    for name, minor in (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9)):  # a runtime provides /dev
        os.mknod(into / "dev" / name, 0o666 | 0o020000, os.makedev(1, minor))
        (into / "dev" / name).chmod(0o666)  # mknod's mode passes through the umask
    return config


@pytest.fixture(scope="module")
def standin_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        _need("running an image's root needs root and chroot")
    try:
        built = standin_images.standin_image("v2.6.24", log=lambda m: None)
    except ToolMissing as exc:
        _need(f"cannot build the stand-in image root: {exc}")
    root = tmp_path_factory.mktemp("image") / "root"
    config = _unpack(built.archive, root)
    return root, config


def test_image_config_resolves_the_charts_command(standin_root):
    root, config = standin_root
    settings = config["config"]
    assert settings["WorkingDir"] == "/milvus" and "Entrypoint" not in settings
    path = dict(e.split("=", 1) for e in settings["Env"])["PATH"].split(":")
    # args ["milvus", "run", <role>] with no command: the runtime finds `milvus` on the image's PATH
    assert path[0] == "/milvus/bin" and os.access(root / "milvus/bin/milvus", os.X_OK)
    # preStop ["sleep", "30"] (proxy, standalone) and /bin/sh
    assert os.access(root / "usr/bin/sleep", os.X_OK) and (root / "bin").resolve() == (root / "usr/bin").resolve()
    proc = subprocess.run(["chroot", str(root), "/bin/sh", "-c", "sleep 0.1 && milvus --help"],
                          env={"PATH": ":".join(path)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "THIS IS A STAND-IN for Milvus" in proc.stdout


def test_image_runs_a_role_against_real_etcd_and_minio(standins, etcd, minio, standin_root):
    root, _ = standin_root
    role = standins("querynode", cluster_config(etcd, minio), env=minio_env(), image_root=root)
    role.wait_healthy(timeout=60)
    role.proc.terminate()
    assert role.wait_exit(20) == 0


DEV_CONFIG = {"etcd": {"use": {"embed": True}, "data": {"dir": "/var/lib/milvus/etcd"}},
              "common": {"storageType": "local", "gracefulStopTimeout": 10},
              "localStorage": {"path": "/var/lib/milvus/data/"}, "mq": {"type": "woodpecker"},
              "woodpecker": {"storage": {"type": "local", "rootPath": "/var/lib/milvus/woodpecker"}}}


def test_image_runs_standalone_with_the_engine_inside(standins, standin_root):
    pymilvus = pytest.importorskip("pymilvus")
    root, _ = standin_root
    config = DEV_CONFIG
    standalone = standins("standalone", config, image_root=root)
    standalone.wait_healthy(timeout=180)
    client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{standalone.port}")
    client.create_collection("in_image", dimension=2)
    client.insert("in_image", [{"id": 7, "vector": [0.1, 0.9]}])
    assert client.search("in_image", data=[[0.1, 0.9]], limit=1)[0][0]["id"] == 7
    assert (root / "var/lib/milvus/data/standin-milvus-lite").is_dir()  # the pod's volume path


def test_etcd_and_minio_images_hold_the_pinned_binaries(tmp_path):
    try:
        etcd_spec, minio_spec = standin_images.etcd_spec(), standin_images.minio_spec()
    except ToolMissing as exc:
        _need(f"pinned tools are not built: {exc}")
    for spec, path in ((etcd_spec, "/usr/local/bin/etcd"), (minio_spec, "/usr/bin/minio")):
        built = images.build_image(spec)
        config, _ = _archive_parts(built.archive)
        root = tmp_path / spec.name
        _unpack(built.archive, root)
        assert os.access(root / path.lstrip("/"), os.X_OK)
        proc = subprocess.run(["chroot", str(root), path, "--version"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert ("etcd Version" in proc.stdout) if spec.name == "etcd" else ("minio version" in proc.stdout)
    assert config["config"]["Entrypoint"] == ["/usr/bin/minio"]  # the chart passes only `server /data ...`


def test_3x_image_runs_as_uid_999_so_its_volume_needs_the_fsgroup(standins, tmp_path_factory):
    """Milvus 3.x images run as uid 999 (docs/milvus-contract.md F18): on a volume only root may write
    the standalone cannot keep its data; with what fsGroup 999 does to the volume, it can."""
    pymilvus = pytest.importorskip("pymilvus")
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        _need("running an image's root needs root and chroot")
    built = standin_images.standin_image("v3.0.2", log=lambda m: None)
    root = tmp_path_factory.mktemp("image3") / "root"
    config = _unpack(built.archive, root)
    assert config["config"]["User"] == "999:999"
    volume = root / "var/lib/milvus"
    volume.mkdir(parents=True)  # a fresh volume: root-owned, 0755
    refused = standins("standalone", DEV_CONFIG, image_root=root, userspec="999:999")
    assert refused.wait_exit(60) == 1
    assert "Permission denied" in refused.logs()
    os.chown(volume, 0, 999)  # what the kubelet does for fsGroup 999: group 999, group-writable, setgid
    volume.chmod(0o2775)
    standalone = standins("standalone", DEV_CONFIG, image_root=root, userspec="999:999")
    standalone.wait_healthy(timeout=180)
    client = pymilvus.MilvusClient(uri=f"http://127.0.0.1:{standalone.port}")
    client.create_collection("as_999", dimension=2)
    client.insert("as_999", [{"id": 1, "vector": [1.0, 0.0]}])
    data = volume / "data" / "standin-milvus-lite"
    assert data.is_dir() and data.stat().st_uid == 999
