"""The OCI image builder: a valid image layout, digests that match, a cache that rebuilds on change."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from deploytool.clusters.local import images
from deploytool.clusters.local.images import FileEntry, ImageSpec
from deploytool.core.errors import BadInput


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))


def _spec(**changes: object) -> ImageSpec:
    base: dict[str, object] = {
        "name": "demo", "tag": "v1",
        "files": {"/bin/hello": FileEntry(content=b"#!hello\n", mode=0o755),
                  "/etc/demo/conf.yaml": FileEntry.text("a: 1\n"),
                  "/bin/hi": FileEntry.link("hello")},
        "entrypoint": ("/bin/hello",), "cmd": ("--flag",), "env": {"A": "1"}, "user": "1000:1000",
        "workdir": "/data", "exposed_ports": (8080,),
    }
    base.update(changes)
    return ImageSpec(**base)  # type: ignore[arg-type]


def _blobs(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_archive_is_an_oci_layout_whose_digests_match() -> None:
    built = images.build_image(_spec())
    assert built.ref == "localhost/deploytool/demo:v1"
    files = _blobs(built.archive)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == built.ref
    assert entry["digest"] == built.manifest_digest
    manifest = json.loads(files["blobs/sha256/" + entry["digest"].split(":")[1]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Entrypoint"] == ["/bin/hello"]
    assert config["config"]["Cmd"] == ["--flag"]
    assert "A=1" in config["config"]["Env"]
    assert config["config"]["User"] == "1000:1000"
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    (layer_desc,) = manifest["layers"]
    assert layer_desc["mediaType"] == images.MEDIA_LAYER
    raw = gzip.decompress(files["blobs/sha256/" + layer_desc["digest"].split(":")[1]])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
        members = {m.name: m for m in layer.getmembers()}
        assert layer.extractfile(members["bin/hello"]).read() == b"#!hello\n"  # type: ignore[union-attr]
    assert members["bin/hello"].mode == 0o755
    assert members["bin/hi"].issym() and members["bin/hi"].linkname == "hello"
    assert members["etc/demo"].isdir() and members["tmp"].mode == 0o1777


def test_cache_reuses_identical_inputs_and_rebuilds_changed_ones(tmp_path: Path) -> None:
    first = images.build_image(_spec())
    again = images.build_image(_spec())
    assert again == first
    changed = images.build_image(_spec(env={"A": "2"}))
    assert changed.archive != first.archive and changed.manifest_digest != first.manifest_digest
    assert not first.archive.exists()  # the older build of the same tag is removed
    source = tmp_path / "payload"
    source.write_bytes(b"one")
    one = images.build_image(_spec(files={"/payload": FileEntry.from_path(source)}))
    source.write_bytes(b"two")
    two = images.build_image(_spec(files={"/payload": FileEntry.from_path(source)}))
    assert one.archive != two.archive


def test_builds_are_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = images.build_image(_spec()).manifest_digest
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "other"))
    assert images.build_image(_spec()).manifest_digest == first


def test_rootfs_directory_is_copied_and_files_override_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"tool")
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text("old")
    built = images.build_image(_spec(rootfs=root, files={"/etc/os-release": FileEntry.text("new")}))
    files = _blobs(built.archive)
    index = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
    raw = gzip.decompress(files["blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]])
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
        names = [m.name for m in layer.getmembers()]
        assert layer.extractfile("usr/bin/tool").read() == b"tool"  # type: ignore[union-attr]
        assert layer.extractfile("etc/os-release").read() == b"new"  # type: ignore[union-attr]
    assert names.count("etc/os-release") == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"tag": "latest"}, "tag 'latest'"),
    ({"name": "Bad Name"}, "image name"),
    ({"files": {"relative/path": FileEntry.text("x")}}, "must be absolute"),
    ({"entrypoint": (), "cmd": ()}, "entrypoint or a cmd"),
])
def test_bad_specs_are_refused_with_every_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        images.build_image(_spec(**changes))
