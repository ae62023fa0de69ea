"""The pinned external tools: which ones exist, where they are built, and how.

Each tool group is a small wrapper Go module under tools/<group>/ whose go.mod pins the
upstream module and lists the binaries as `tool` directives. `make tools` (this module's
`build_all`) runs `go build` for each group into <cache>/tools/<group>/<version>/ and skips a
group whose stamp matches the pinned go.mod/go.sum. Nothing is downloaded except Go modules
from the module proxy -- and, for real nodes, Debian's containerd, runc, containernetworking-plugins
and iptables, installed with apt-get when missing (debpkgs.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from deploytool.core import debpkgs, paths
from deploytool.core.errors import CommandFailed, ToolMissing

# Which group provides which binary, in build order (smallest first so helm is usable early).
# minio is AGPL-3.0: built here only to serve the local cluster's tests, never shipped (tools/minio/go.mod).
GROUPS = ("helm", "etcd", "kwok", "metrics-server", "k8s", "kube-score", "coredns", "minio")
BINARY_GROUP = {
    "helm": "helm",
    "etcd": "etcd",
    "kwok": "kwok",
    "kwokctl": "kwok",
    "metrics-server": "metrics-server",
    "kube-apiserver": "k8s",
    "kube-controller-manager": "k8s",
    "kube-scheduler": "k8s",
    "kubectl": "k8s",
    "kubelet": "k8s",
    "kube-proxy": "k8s",
    "kube-score": "kube-score",
    "coredns": "coredns",
    "minio": "minio",
}
STAMP = ".deploytool-built"
# Bump when the build recipe changes (names, flags), so every cache rebuilds once.
BUILD_RECIPE = 2


@dataclass(frozen=True)
class ToolGroup:
    name: str
    module_dir: Path
    packages: tuple[str, ...]
    upstream: str
    version: str

    @property
    def out_dir(self) -> Path:
        return paths.cache_dir() / "tools" / self.name / self.version

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for fname in ("go.mod", "go.sum"):
            digest.update((self.module_dir / fname).read_bytes())
        digest.update(" ".join(self.ldflags()).encode())
        digest.update(f"recipe {BUILD_RECIPE}".encode())
        return digest.hexdigest()[:16]

    def is_built(self) -> bool:
        stamp = self.out_dir / STAMP
        return stamp.is_file() and stamp.read_text().strip() == self.fingerprint()

    def ldflags(self) -> list[str]:
        flags = ["-s", "-w"]
        if self.name == "k8s":
            major, minor = self.version.lstrip("v").split(".")[:2]
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                flags += [
                    f"-X {pkg}.gitVersion={self.version}",
                    f"-X {pkg}.gitMajor={major}",
                    f"-X {pkg}.gitMinor={minor}",
                    f"-X {pkg}.gitTreeState=clean",
                ]
        elif self.name == "helm":
            flags.append(f"-X helm.sh/helm/v3/internal/version.version={self.version}")
        elif self.name == "kube-score":  # `kube-score version` prints these
            flags.append(f"-X main.version={self.version.lstrip('v')}")
        elif self.name == "metrics-server":  # metrics-server reports client-go's version variables
            flags.append(f"-X k8s.io/client-go/pkg/version.gitVersion={self.version}")
        return flags


def _parse_go_mod(text: str) -> tuple[list[str], dict[str, str]]:
    tools: list[str] = []
    requires: dict[str, str] = {}
    block = None
    for raw in text.splitlines():
        line = raw.split("//")[0].strip()
        if not line:
            continue
        if line.endswith("(") and line.split()[0] in ("tool", "require", "replace"):
            block = line.split()[0]
            continue
        if line == ")":
            block = None
            continue
        words = line.split()
        kind = block
        if block is None:
            kind, words = words[0], words[1:]
        if kind == "tool" and words:
            tools.append(words[0])
        elif kind == "require" and len(words) >= 2:
            requires[words[0]] = words[1]
    return tools, requires


def load_group(name: str) -> ToolGroup:
    module_dir = paths.tools_src_dir() / name
    gomod = module_dir / "go.mod"
    if not gomod.is_file():
        raise ToolMissing(f"tool group '{name}' has no {gomod}")
    tools, requires = _parse_go_mod(gomod.read_text())
    first = tools[0]
    upstream = max((m for m in requires if first == m or first.startswith(m + "/")), key=len)
    return ToolGroup(name, module_dir, tuple(tools), upstream, requires[upstream])


def find(binary: str) -> Path:
    """Path of a tool: $DEPLOYTOOL_<NAME>, else our pinned build, else PATH (helm/kubectl only)."""
    env_key = "DEPLOYTOOL_" + binary.upper().replace("-", "_")
    if os.environ.get(env_key):
        return Path(os.environ[env_key])
    group = load_group(BINARY_GROUP[binary])
    built = group.out_dir / binary
    if group.is_built() and built.is_file():
        return built
    if binary in ("helm",):
        on_path = shutil.which(binary)
        if on_path:
            return Path(on_path)
    raise ToolMissing(
        f"{binary} {group.version} is not built; run `make tools` (builds it from the Go module proxy into "
        f"{group.out_dir.parent}), or set {env_key}=/path/to/{binary}"
    )


def build_group(group: ToolGroup, log=print) -> float:
    """go build every binary of the group into its versioned cache folder. Returns seconds."""
    if shutil.which("go") is None:
        raise ToolMissing("go is not on PATH; install Go >= 1.24 to build the pinned tools")
    start = time.monotonic()
    tmp = group.out_dir.with_name(group.out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-trimpath -buildvcs=false", GOTOOLCHAIN="local")
    argv = ["go", "build", "-ldflags", " ".join(group.ldflags()), "-o", str(tmp) + "/", *group.packages]
    log_path = paths.cache_dir() / "tools" / f"{group.name}.build.log"
    with open(log_path, "w") as logf:
        proc = subprocess.run(argv, cwd=group.module_dir, env=env, stdout=logf, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, log_path.read_text()[-2000:])
    # `go build` names a binary after its package path; etcd's main package is the module root
    # "go.etcd.io/etcd/server/v3", which builds as "server" (the major-version suffix is dropped).
    if group.name == "etcd" and (tmp / "server").exists():
        (tmp / "server").rename(tmp / "etcd")
    (tmp / STAMP).write_text(group.fingerprint() + "\n")
    shutil.rmtree(group.out_dir, ignore_errors=True)
    tmp.rename(group.out_dir)
    return time.monotonic() - start


def build_all(names: list[str] | None = None, log=print) -> dict[str, float]:
    (paths.cache_dir() / "tools").mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    selected = names or list(GROUPS)
    for index, name in enumerate(selected, 1):
        group = load_group(name)
        prefix = f"[{index}/{len(selected)}] {name} {group.version}"
        if group.is_built():
            log(f"✓ {prefix}: already built in {group.out_dir}")
            timings[name] = 0.0
            continue
        log(f"… {prefix}: building {', '.join(p.rsplit('/', 1)[-1] for p in group.packages)}")
        seconds = build_group(group, log)
        timings[name] = seconds
        log(f"✓ {prefix}: built in {seconds:.0f}s")
    return timings


def main(argv: list[str]) -> int:
    """`python -m deploytool.core.toolchain [group ...]` -- used by `make tools` and CI."""
    try:
        if not argv:  # the Debian packages real nodes need (containerd, runc, CNI plugins, iptables)
            debpkgs.ensure(log=lambda m: print(m, flush=True))
        timings = build_all(argv or None, log=lambda m: print(m, flush=True))
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(exc.cmd)} failed (exit {exc.returncode}); see "
              f"{paths.cache_dir() / 'tools' / 'apt-get.log'}", file=sys.stderr)
        return 2
    except (ToolMissing, CommandFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(timings.values())
    print("tool build times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + f"; total {total:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
