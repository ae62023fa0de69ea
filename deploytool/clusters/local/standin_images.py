"""What goes into the local cluster's etcd, MinIO and Milvus stand-in images (built with images.py).

- etcd: our pinned etcd build as /usr/local/bin/etcd (the chart runs `etcd` with its own flags).
- MinIO: our pinned MinIO build as /usr/bin/minio, the entrypoint (the chart passes `server /data ...`).
  MinIO is AGPL-3.0: these images are built on this machine for the local cluster only, never shipped.
- Milvus stand-in: a Debian root filesystem with Python 3 (debroot.py: Debian's packages, no
  registry), milvus-lite and its wheels from PyPI, and images/milvus-standin as /milvus, so the
  chart's `milvus run <role>` finds `milvus` on PATH; `sleep` (coreutils) and /bin/sh serve the
  chart's preStop hooks. The tag is the Milvus version it stands in for (STANDIN_MILVUS_VERSION).

docs/milvus-standin.md says what the stand-in does and does not do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deploytool.clusters.local.images import BuiltImage, FileEntry, ImageSpec, build_image
from deploytool.core import debroot, paths, toolchain
from deploytool.core.errors import CommandFailed
from deploytool.render import versions

# Debian packages of the stand-in's root: Python 3 with PyYAML, a shell and coreutils (sleep, env),
# and the C++ runtime the engine's wheels (numpy, faiss, pyarrow, grpcio) link against.
STANDIN_PACKAGES = ["python3-minimal", "python3", "python3-yaml", "dash", "coreutils", "libstdc++6", "libgomp1"]
# The Milvus engine behind the stand-in, with its dependencies as PyPI resolves them (its gRPC server
# imports pymilvus's generated stubs without declaring pymilvus, so that is named too).
WHEELS = ("milvus-lite==3.2.2", "pymilvus==3.0.2")
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"  # on Debian's sys.path for its python3.11


def standin_source() -> Path:
    return paths.project_root() / "images" / "milvus-standin"


def _install_wheels(rootfs: Path) -> None:
    target = rootfs / SITE_PACKAGES
    target.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
            "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux_2_36_x86_64", "--platform", "manylinux_2_28_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "linux_x86_64", "--target", str(target), *WHEELS]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, (proc.stderr or proc.stdout)[-2000:])


def standin_rootfs(log=print) -> Path:  # type: ignore[no-untyped-def]
    """Debian's Python 3 plus milvus-lite's wheels: the cached root of the Milvus stand-in image."""
    return debroot.build_rootfs("python3-milvus-lite", STANDIN_PACKAGES, extra=_install_wheels,
                                extra_key=" ".join(WHEELS), log=log)


def standin_files() -> dict[str, FileEntry]:
    src = standin_source()
    files = {"/milvus/bin/milvus": FileEntry.text(
        "#!/usr/bin/python3\n\"\"\"`milvus run <role>`: the Milvus stand-in (see /milvus/lib/milvus_standin).\"\"\"\n"
        "import sys\nsys.path.insert(0, '/milvus/lib')\nfrom milvus_standin.cli import main\nsys.exit(main())\n",
        mode=0o755)}
    # Milvus 3.x images run as the user `milvus` (uid 999, docs/milvus-contract.md); give it a name here too.
    files["/etc/passwd"] = FileEntry.text(debroot.PASSWD + "milvus:x:999:999:milvus:/milvus:/bin/sh\n")
    files["/etc/group"] = FileEntry.text(debroot.GROUP + "milvus:x:999:\n")
    for path in sorted((src / "milvus_standin").glob("*.py")):
        files[f"/milvus/lib/milvus_standin/{path.name}"] = FileEntry.from_path(path, 0o644)
    return files


MILVUS_USER = "999:999"  # what Milvus 3.x images run as (docs/milvus-contract.md F18); 2.6 images run as root


def standin_spec(tag: str, rootfs: Path) -> ImageSpec:
    """The stand-in for Milvus `tag`; for a 3.x tag it runs as uid/gid 999 like Milvus 3's image, so a
    pod that writes its volume needs the chart's fsGroup exactly as with the real image."""
    return ImageSpec(
        user=MILVUS_USER if versions.is_3x(tag) else "",
        name="milvus-standin", tag=tag, rootfs=rootfs, files=standin_files(),
        cmd=("milvus", "run", "standalone"), workdir="/milvus",
        env={"PATH": "/milvus/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "STANDIN_MILVUS_VERSION": tag.lstrip("v"), "PYTHONUNBUFFERED": "1"},
        exposed_ports=(19530, 9091), labels={"org.opencontainers.image.description": "Milvus stand-in (not Milvus)"})


def standin_image(tag: str, log=print) -> BuiltImage:  # type: ignore[no-untyped-def]
    return build_image(standin_spec(tag, standin_rootfs(log)))


def etcd_spec(tag: str | None = None) -> ImageSpec:
    """The pinned etcd as /usr/local/bin/etcd; tagged with its version unless told otherwise."""
    return ImageSpec(name="etcd", tag=tag or toolchain.load_group("etcd").version,
                     files={"/usr/local/bin/etcd": FileEntry.from_path(toolchain.find("etcd"))},
                     cmd=("etcd",), exposed_ports=(2379, 2380))


def minio_spec(tag: str | None = None) -> ImageSpec:
    """The pinned MinIO build as /usr/bin/minio. Its default tag is the Go module version it was built
    from (a MinIO RELEASE tag would claim a release this build is not)."""
    return ImageSpec(name="minio", tag=tag or toolchain.load_group("minio").version,
                     files={"/usr/bin/minio": FileEntry.from_path(toolchain.find("minio"))},
                     entrypoint=("/usr/bin/minio",), cmd=("server", "/data"), env={"HOME": "/tmp"},
                     exposed_ports=(9000, 9001), labels={"org.opencontainers.image.licenses": "AGPL-3.0-only"})


def etcd_image(tag: str | None = None) -> BuiltImage:
    return build_image(etcd_spec(tag))


def minio_image(tag: str | None = None) -> BuiltImage:
    return build_image(minio_spec(tag))


def local_images(milvus_tags: list[str], log=print) -> list[BuiltImage]:  # type: ignore[no-untyped-def]
    """Every image a deployment on real nodes needs: one stand-in per Milvus tag (a drill's from and to
    versions; a tag never built stays a real image-not-found), etcd and MinIO at their pinned builds."""
    return [*(standin_image(tag, log) for tag in milvus_tags), etcd_image(), minio_image()]
