"""Container images without a registry: build OCI archives here, import them into a node's containerd.

An image is one gzip layer (a tar of the files), a config (entrypoint, cmd, env, user, working
directory), a manifest naming both, and an index naming the manifest -- the OCI image layout,
packed in one tar that `ctr -n k8s.io images import` loads into a containerd in ~0.1 s.

API (used by the real nodes and by the etcd/MinIO/Milvus stand-in images):

    spec = ImageSpec(
        name="etcd", tag="v3.6.16",
        files={"/usr/local/bin/etcd": FileEntry.from_path(etcd_binary)},   # or rootfs=Path("...")
        entrypoint=("/usr/local/bin/etcd",), env={"ETCDCTL_API": "3"}, user="0:0",
    )
    image = build_image(spec)          # cached: ~/.cache/deploytool/images/<name>/<tag>-<key>.tar
    image.ref                          # "localhost/deploytool/etcd:v3.6.16" -- put this in the pod spec
    import_image(image, containerd_socket)

Image references are always `localhost/deploytool/<name>:<tag>`: if anything ever tried to pull
one, the only address it could reach is the loopback (nothing listens there for a registry, so
the pull fails at once). Pods should use `imagePullPolicy: Never` (or IfNotPresent with a tag that
is not `latest`): the kubelet then never asks containerd to pull.

Caching: the archive's file name carries a key computed from everything that goes into the image
(every file's path, mode and content, the config fields, the builder's format version), so an
image is rebuilt exactly when one of its inputs changed and reused otherwise. Builds are
reproducible: fixed mtimes, uid/gid 0 unless a FileEntry says otherwise, gzip without a timestamp.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploytool.core import paths
from deploytool.core.errors import BadInput, CommandFailed, ToolMissing

REGISTRY = "localhost/deploytool"
# Bump when the archive format changes, so every cached image is rebuilt once.
FORMAT_VERSION = 1
CONTAINERD_NAMESPACE = "k8s.io"  # the namespace the kubelet's CRI plugin reads images from
_MTIME = 1  # fixed mtime for reproducible layers (0 makes some tools think "unknown")

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class FileEntry:
    """One file of an image: its bytes (inline or read from a host file), mode and owner.

    A host file is read when the image is built; its content (not its path) goes into the cache key.
    """

    content: bytes | None = None
    source: Path | None = None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    symlink_to: str | None = None

    @classmethod
    def from_path(cls, path: Path | str, mode: int | None = None) -> FileEntry:
        path = Path(path)
        if not path.is_file():
            raise BadInput(f"image file source {path} does not exist")
        return cls(source=path, mode=mode if mode is not None else stat.S_IMODE(path.stat().st_mode))

    @classmethod
    def text(cls, text: str, mode: int = 0o644) -> FileEntry:
        return cls(content=text.encode(), mode=mode)

    @classmethod
    def link(cls, target: str) -> FileEntry:
        return cls(symlink_to=target, mode=0o777)

    def data(self) -> bytes:
        if self.content is not None:
            return self.content
        if self.source is not None:
            return self.source.read_bytes()
        return b""


@dataclass(frozen=True)
class ImageSpec:
    """What goes into an image. `files` maps absolute in-image paths to FileEntry; `rootfs` (optional)
    is a host directory copied as the image's root first (files then add to or replace it)."""

    name: str
    tag: str
    files: Mapping[str, FileEntry] = field(default_factory=dict)
    rootfs: Path | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    exposed_ports: tuple[int, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.tag}"

    def validate(self) -> None:
        errors = []
        if not self.name or not all(c.isalnum() or c in "-._/" for c in self.name) or self.name != self.name.lower():
            errors.append(f"image name {self.name!r} must be lower-case letters, digits, '-', '.', '_' or '/'")
        if not self.tag or len(self.tag) > 128 or not all(c.isalnum() or c in "-._" for c in self.tag):
            errors.append(f"image tag {self.tag!r} must be 1-128 letters, digits, '-', '.' or '_'")
        if self.tag == "latest":
            errors.append("image tag 'latest' makes the kubelet pull by default; name a version")
        for path in self.files:
            if not path.startswith("/") or ".." in path.split("/"):
                errors.append(f"image file path {path!r} must be absolute, without '..'")
        if self.rootfs is not None and not Path(self.rootfs).is_dir():
            errors.append(f"image rootfs {self.rootfs} is not a directory")
        if not self.entrypoint and not self.cmd:
            errors.append("an image needs an entrypoint or a cmd")
        if errors:
            raise BadInput("; ".join(errors))

    def config_fields(self) -> dict[str, object]:
        config: dict[str, object] = {}
        if self.entrypoint:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            config["Cmd"] = list(self.cmd)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **self.env}
        config["Env"] = [f"{k}={v}" for k, v in env.items()]
        if self.user:
            config["User"] = self.user
        if self.workdir:
            config["WorkingDir"] = self.workdir
        if self.exposed_ports:
            config["ExposedPorts"] = {f"{p}/tcp": {} for p in self.exposed_ports}
        if self.labels:
            config["Labels"] = dict(self.labels)
        return config


@dataclass(frozen=True)
class BuiltImage:
    ref: str            # localhost/deploytool/<name>:<tag>
    archive: Path       # the OCI layout tar to import
    manifest_digest: str


def images_dir() -> Path:
    return paths.cache_dir() / "images"


# -- the layer -----------------------------------------------------------------------------------

def _rootfs_entries(rootfs: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(rootfs, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            host = base / name
            yield "/" + str(host.relative_to(rootfs)), host


def _tar_info(path: str, kind: bytes, mode: int, size: int = 0, uid: int = 0, gid: int = 0,
              link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode, info.size, info.uid, info.gid = kind, mode, size, uid, gid
    info.mtime, info.uname, info.gname, info.linkname = _MTIME, "", "", link
    return info


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def write_layer(spec: ImageSpec, out: io.BufferedIOBase) -> None:
    """Write the image's single layer as an uncompressed tar to out (deterministic order)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()

        def add_dir(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
            if path not in written:
                written.add(path)
                tar.addfile(_tar_info(path, tarfile.DIRTYPE, mode, uid=uid, gid=gid))

        for path in ("/tmp",):
            add_dir(path, 0o1777)
        for path in ("/etc", "/dev", "/proc", "/sys"):
            add_dir(path)
        overridden = set(spec.files)
        if spec.rootfs is not None:
            for path, host in _rootfs_entries(Path(spec.rootfs)):
                if path in overridden:
                    continue
                st = host.lstat()
                if stat.S_ISDIR(st.st_mode):
                    add_dir(path, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                elif stat.S_ISLNK(st.st_mode):
                    tar.addfile(_tar_info(path, tarfile.SYMTYPE, 0o777, uid=st.st_uid, gid=st.st_gid,
                                          link=os.readlink(host)))
                    written.add(path)
                elif stat.S_ISREG(st.st_mode):
                    with open(host, "rb") as handle:
                        tar.addfile(_tar_info(path, tarfile.REGTYPE, stat.S_IMODE(st.st_mode), st.st_size,
                                              st.st_uid, st.st_gid), handle)
                    written.add(path)
                # devices, fifos and sockets are left out: the runtime provides /dev
        for path in sorted(spec.files):
            entry = spec.files[path]
            for parent in _parents(path):
                add_dir(parent)
            if entry.symlink_to is not None:
                tar.addfile(_tar_info(path, tarfile.SYMTYPE, 0o777, uid=entry.uid, gid=entry.gid,
                                      link=entry.symlink_to))
                continue
            data = entry.data()
            tar.addfile(_tar_info(path, tarfile.REGTYPE, entry.mode, len(data), entry.uid, entry.gid),
                        io.BytesIO(data))


# -- cache key ---------------------------------------------------------------------------------

def cache_key(spec: ImageSpec) -> str:
    """A digest of every input of the image (file contents, modes, config, format version)."""
    digest = hashlib.sha256(f"deploytool-image v{FORMAT_VERSION}\n".encode())
    digest.update(json.dumps({"name": spec.name, "tag": spec.tag, "config": spec.config_fields()},
                             sort_keys=True).encode())
    if spec.rootfs is not None:
        for path, host in _rootfs_entries(Path(spec.rootfs)):
            st = host.lstat()
            digest.update(f"\0{path}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(host).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(host, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
    for path in sorted(spec.files):
        entry = spec.files[path]
        digest.update(f"\1{path}\0{entry.mode:o}\0{entry.uid}\0{entry.gid}\0{entry.symlink_to}\0".encode())
        digest.update(hashlib.sha256(entry.data()).digest())
    return digest.hexdigest()[:20]


# -- the archive -------------------------------------------------------------------------------

def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _descriptor(media: str, digest: str, size: int, **extra: object) -> dict[str, object]:
    return {"mediaType": media, "digest": f"sha256:{digest}", "size": size, **extra}


def build_image(spec: ImageSpec, compresslevel: int = 1) -> BuiltImage:
    """Build (or reuse from the cache) the OCI archive for spec. Returns its ref and archive path."""
    spec.validate()
    key = cache_key(spec)
    folder = images_dir() / spec.name
    archive = folder / f"{spec.tag}-{key}.tar"
    digest_file = archive.with_suffix(".digest")
    if archive.is_file() and digest_file.is_file():
        return BuiltImage(spec.ref, archive, digest_file.read_text().strip())
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        work = Path(tmp)
        raw, gz = work / "layer.tar", work / "layer.tar.gz"
        with open(raw, "wb") as handle:
            write_layer(spec, handle)
        diff_id = _sha256_file(raw)
        with open(raw, "rb") as src, open(gz, "wb") as dst_file:
            with gzip.GzipFile(filename="", mode="wb", fileobj=dst_file, compresslevel=compresslevel,
                               mtime=0) as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
        raw.unlink()
        layer_digest, layer_size = _sha256_file(gz), gz.stat().st_size
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": spec.config_fields(),
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created_by": f"deploytool images.py (format {FORMAT_VERSION})"}],
        }, sort_keys=True).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": _descriptor(MEDIA_CONFIG, config_digest, len(config)),
            "layers": [_descriptor(MEDIA_LAYER, layer_digest, layer_size)],
        }, sort_keys=True).encode()
        manifest_digest = hashlib.sha256(manifest).hexdigest()
        index = json.dumps({
            "schemaVersion": 2, "mediaType": MEDIA_INDEX,
            "manifests": [_descriptor(
                MEDIA_MANIFEST, manifest_digest, len(manifest),
                platform={"architecture": "amd64", "os": "linux"},
                annotations={"io.containerd.image.name": spec.ref,
                             "org.opencontainers.image.ref.name": spec.tag})],
        }, sort_keys=True).encode()
        partial = work / "image.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            def add_bytes(name: str, data: bytes) -> None:
                tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))

            add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add_bytes("index.json", index)
            tar.addfile(_tar_info("blobs", tarfile.DIRTYPE, 0o755))
            tar.addfile(_tar_info("blobs/sha256", tarfile.DIRTYPE, 0o755))
            add_bytes(f"blobs/sha256/{config_digest}", config)
            add_bytes(f"blobs/sha256/{manifest_digest}", manifest)
            with open(gz, "rb") as layer_file:
                tar.addfile(_tar_info(f"blobs/sha256/{layer_digest}", tarfile.REGTYPE, 0o644, layer_size),
                            layer_file)
        os.replace(partial, archive)
        digest_file.write_text(f"sha256:{manifest_digest}\n")
    for old in folder.glob(f"{spec.tag}-*.tar"):  # older builds of the same tag
        if old != archive:
            old.unlink(missing_ok=True)
            old.with_suffix(".digest").unlink(missing_ok=True)
    return BuiltImage(spec.ref, archive, f"sha256:{manifest_digest}")


# -- containerd --------------------------------------------------------------------------------

def ctr_binary() -> str:
    found = os.environ.get("DEPLOYTOOL_CTR") or "/usr/bin/ctr"
    if not Path(found).is_file():
        raise ToolMissing("ctr (containerd's client) is not installed: apt-get install containerd "
                          "(make tools does this)")
    return found


def _ctr(socket: Path, *args: str, timeout: float = 120) -> str:
    argv = [ctr_binary(), "--address", str(socket), "--namespace", CONTAINERD_NAMESPACE, *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, (proc.stderr or proc.stdout)[-2000:])
    return proc.stdout


def import_image(image: BuiltImage, socket: Path) -> None:
    """Load the archive into the containerd listening on socket (namespace k8s.io), unpacked for
    the CRI's snapshotter, so a pod may use image.ref at once. Importing twice is harmless."""
    _ctr(socket, "images", "import", "--digests=false", str(image.archive))


def parse_image_list(text: str) -> dict[str, str]:
    """`ctr images list` (REF TYPE DIGEST SIZE PLATFORMS LABELS) -> {ref: digest}."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            found[fields[0]] = fields[2]
    return found


def imported_digests(socket: Path) -> dict[str, str]:
    """The images a node's containerd holds (namespace k8s.io): {ref: manifest digest}."""
    return parse_image_list(_ctr(socket, "images", "list"))


def missing_images(wanted: Iterable[BuiltImage], present: Mapping[str, str]) -> list[BuiltImage]:
    """The images a node lacks: its ref absent, or held at another digest (an older build of the tag)."""
    return [image for image in wanted if present.get(image.ref) != image.manifest_digest]




# -- small Go programs of this project (images/<name>/) ------------------------------------------

def programs_src_dir() -> Path:
    """Sources of the small programs baked into images (images/<name>/main.go + go.mod)."""
    return paths.tools_src_dir().parent / "images"


def build_go_program(name: str) -> Path:
    """Build images/<name>/ as a static linux/amd64 binary, cached by the hash of its sources."""
    src = programs_src_dir() / name
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in (".go", ".mod", ".sum"))
    if not files:
        raise BadInput(f"no Go program in {src}")
    digest = hashlib.sha256(f"go-program v{FORMAT_VERSION}".encode())
    for path in files:
        digest.update(f"\0{path.relative_to(src)}\0".encode() + path.read_bytes())
    out = images_dir() / "bin" / f"{name}-{digest.hexdigest()[:16]}"
    if out.is_file():
        return out
    if not any(Path(d, "go").is_file() for d in os.environ.get("PATH", "").split(os.pathsep)):
        raise ToolMissing("go is not on PATH; install Go >= 1.24 to build the images' programs")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOARCH="amd64", GOFLAGS="-trimpath -buildvcs=false",
               GOTOOLCHAIN="local")
    argv = ["go", "build", "-ldflags", "-s -w", "-o", str(partial), "."]
    proc = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, (proc.stderr or proc.stdout)[-2000:])
    os.replace(partial, out)
    return out


def program_image(name: str, tag: str, *args: str, **config: object) -> ImageSpec:
    """An image holding only the static program images/<name>/ as /<name>, its entrypoint."""
    binary = build_go_program(name)
    return ImageSpec(name=name, tag=tag, files={f"/{name}": FileEntry.from_path(binary, 0o755)},
                     entrypoint=(f"/{name}", *args), **config)  # type: ignore[arg-type]


PAUSE_TAG = "3.10-dt1"


def pause_image() -> BuiltImage:
    """localhost/deploytool/pause:<PAUSE_TAG>, the sandbox image every real node's containerd uses."""
    return build_image(program_image("pause", PAUSE_TAG, user="65535:65535"))
