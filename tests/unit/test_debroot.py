"""Image roots from Debian packages: parsing apt-cache's answers, merging /usr; the stand-in image's spec."""

from __future__ import annotations

from pathlib import Path

from deploytool.clusters.local import standin_images
from deploytool.core import debroot

DEPENDS = """python3
  PreDepends: python3-minimal
  Depends: python3.11
 |Depends: <python3-foo>
python3-minimal
  Depends: dpkg
<python3-foo>
dpkg
"""

SHOW = """Package: zlib1g
Version: 1:1.2.13.dfsg-1
Architecture: amd64

Package: dash
Version: 0.5.12-2
"""


def test_depends_keeps_real_packages_only():
    assert debroot.parse_depends(DEPENDS) == ["dpkg", "python3", "python3-minimal"]


def test_versions_per_package():
    assert debroot.parse_versions(SHOW) == {"zlib1g": "1:1.2.13.dfsg-1", "dash": "0.5.12-2"}


def test_merge_usr_keeps_files_from_both_trees(tmp_path: Path):
    (tmp_path / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib/x86_64-linux-gnu/libc.so.6").write_text("libc")
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libz.so.1").write_text("zlib")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/dash").write_text("dash")
    debroot._merge_usr(tmp_path)
    assert (tmp_path / "lib").is_symlink() and (tmp_path / "bin").is_symlink()
    assert (tmp_path / "lib/x86_64-linux-gnu/libc.so.6").read_text() == "libc"
    assert (tmp_path / "lib/x86_64-linux-gnu/libz.so.1").read_text() == "zlib"
    assert (tmp_path / "usr/bin/dash").read_text() == "dash"


def test_standin_image_runs_the_charts_command_from_path(tmp_path: Path):
    spec = standin_images.standin_spec("v2.6.24", tmp_path)
    spec.validate()
    fields = spec.config_fields()
    env = dict(e.split("=", 1) for e in fields["Env"])  # type: ignore[union-attr]
    assert env["PATH"].startswith("/milvus/bin:") and env["STANDIN_MILVUS_VERSION"] == "2.6.24"
    assert "Entrypoint" not in fields and fields["WorkingDir"] == "/milvus"
    assert "/milvus/bin/milvus" in spec.files and spec.files["/milvus/bin/milvus"].mode == 0o755
    assert "/milvus/lib/milvus_standin/roles.py" in spec.files


def test_standin_for_3x_runs_as_milvus_uid_999_and_for_2_6_as_root(tmp_path: Path):
    assert standin_images.standin_spec("v3.0.2", tmp_path).user == "999:999"
    assert standin_images.standin_spec("v2.6.24", tmp_path).user == ""
