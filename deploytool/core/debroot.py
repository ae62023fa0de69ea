"""A root filesystem made from Debian's packages, for images that need more than one static binary.

No registry and no chroot: the packages and everything they depend on (apt-cache's closure, minus
what only package management needs: dpkg, debconf, perl, ...) are fetched with `apt-get download`
from the machine's configured Debian archive and unpacked with `dpkg-deb -x`. Maintainer scripts
do not run, so the tree is what the packages ship (plus /bin, /sbin, /lib* links to /usr like a
merged-/usr Debian, and a minimal /etc/passwd and /etc/group).

Cached in <cache>/rootfs/<name>-<key>/ where the key digests the package names, their candidate
versions and the recipe: rebuilt only when Debian ships a new version of one of them or the list
changes. `extra(rootfs)` may add more (e.g. Python wheels) before the tree is marked complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from deploytool.core import paths
from deploytool.core.errors import CommandFailed, ToolMissing

RECIPE = 2
STAMP = ".deploytool-built"
# Needed to install packages, not to run what they ship.
EXCLUDE = frozenset({
    "dpkg", "debconf", "cdebconf", "install-info", "tar", "perl", "perl-base", "perl-modules-5.36",
    "libperl5.36", "libgdbm-compat4", "libdebian-installer4", "libnewt0.52", "libslang2", "libtextwrap1",
    "mailcap", "ca-certificates", "openssl",
})
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _run(argv: list[str], cwd: Path | None = None, log: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise ToolMissing(f"{argv[0]} is not installed (Debian's apt/dpkg tools are needed to build image roots)")
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if log is not None:
        with open(log, "a") as out:
            out.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, (proc.stderr or proc.stdout)[-2000:])
    return proc.stdout


def parse_depends(text: str) -> list[str]:
    """Package names from `apt-cache depends --recurse` output (virtual `<pkg>` and relation lines dropped)."""
    names = {line.strip() for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("<")}
    return sorted(n for n in names if n)


def parse_versions(text: str) -> dict[str, str]:
    """{package: version} from `apt-cache show --no-all-versions` output."""
    versions: dict[str, str] = {}
    package = ""
    for line in text.splitlines():
        if line.startswith("Package: "):
            package = line.split(": ", 1)[1].strip()
        elif line.startswith("Version: ") and package:
            versions.setdefault(package, line.split(": ", 1)[1].strip())
    return versions


def closure(packages: Iterable[str], exclude: frozenset[str] = EXCLUDE) -> list[str]:
    out = _run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                "--no-breaks", "--no-replaces", "--no-enhances", *packages])
    return [name for name in parse_depends(out) if name not in exclude]


def candidate_versions(packages: list[str]) -> dict[str, str]:
    versions = parse_versions(_run(["apt-cache", "show", "--no-all-versions", *packages]))
    missing = [p for p in packages if p not in versions]
    if missing:
        raise ToolMissing(f"Debian has no candidate for {' '.join(missing)} (run `apt-get update`?)")
    return versions


def _move_tree(src: Path, dst: Path) -> None:
    """Move every entry of src into dst, merging folders that exist on both sides."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _move_tree(entry, target)
            entry.rmdir()
        elif not target.exists() and not target.is_symlink():
            entry.rename(target)
        else:
            raise CommandFailed(["merge-usr"], 1, f"{entry} and {target} both exist")


def _merge_usr(root: Path) -> None:
    """/bin, /sbin, /lib, /lib64 as links into /usr (what a merged-/usr Debian has), keeping their files."""
    for name in ("bin", "sbin", "lib", "lib64"):
        top, usr = root / name, root / "usr" / name
        if top.is_symlink():
            continue
        if top.is_dir():
            _move_tree(top, usr)
            top.rmdir()
        usr.mkdir(parents=True, exist_ok=True)
        top.symlink_to(f"usr/{name}")


def build_rootfs(name: str, packages: list[str], extra: Callable[[Path], None] | None = None,
                 extra_key: str = "", log: Callable[[str], None] = print) -> Path:
    """The cached root filesystem holding `packages` and their dependencies; built when missing."""
    try:
        wanted = closure(packages)
        versions = candidate_versions(wanted)
    except (ToolMissing, CommandFailed):
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise
        _run(["apt-get", "update", "-q"])  # a fresh machine has no package lists yet
        wanted = closure(packages)
        versions = candidate_versions(wanted)
    digest = hashlib.sha256(f"debroot recipe {RECIPE}\n{extra_key}\n".encode())
    for package in wanted:
        digest.update(f"{package}={versions[package]}\n".encode())
    root = paths.cache_dir() / "rootfs" / f"{name}-{digest.hexdigest()[:16]}"
    if (root / STAMP).is_file():
        return root
    log(f"… building the {name} root filesystem from {len(wanted)} Debian packages into {root}")
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    debs = paths.cache_dir() / "rootfs" / "debs"
    for folder in (partial, debs):
        folder.mkdir(parents=True, exist_ok=True)
    build_log = root.with_name(root.name + ".log")
    build_log.write_text("")
    _run(["apt-get", "download", "-q", *[f"{p}={versions[p]}" for p in wanted]], cwd=debs, log=build_log)
    for package in wanted:
        deb = next(debs.glob(f"{package}_{versions[package].replace(':', '%3a')}_*.deb"), None)
        if deb is None:
            raise CommandFailed(["apt-get", "download", package], 1, f"no .deb for {package} in {debs}")
        _run(["dpkg-deb", "-x", str(deb), str(partial)], log=build_log)
    _merge_usr(partial)
    (partial / "etc").mkdir(exist_ok=True)
    (partial / "etc" / "passwd").write_text(PASSWD)
    (partial / "etc" / "group").write_text(GROUP)
    for name in ("tmp", "root", "var/tmp"):
        (partial / name).mkdir(parents=True, exist_ok=True)
    (partial / "tmp").chmod(0o1777)
    if extra is not None:
        extra(partial)
    (partial / STAMP).write_text(" ".join(f"{p}={versions[p]}" for p in wanted) + "\n")
    for old in root.parent.glob(f"{name}-*"):
        if old.is_dir() and old != partial and not old.name.endswith(".partial"):
            shutil.rmtree(old, ignore_errors=True)
    partial.rename(root)
    log(f"✓ {name} root filesystem ready ({len(wanted)} packages)")
    return root
