"""kube-score (github.com/zegl/kube-score, pinned in tools/kube-score) on rendered manifests.

Every CRITICAL it reports is either fixed in the chart or listed, with its reason, in the one
ignore file tools/kube-score/ignore.yaml. `unexplained()` is what the tests hold at zero.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploytool.core import paths, toolchain
from deploytool.core.errors import BadInput, CommandFailed
from deploytool.render.values import load_yaml_file

GRADE_CRITICAL = 1


def ignore_file() -> Path:
    return paths.tools_src_dir() / "kube-score" / "ignore.yaml"


@dataclass(frozen=True)
class Finding:
    env: str
    check: str  # kube-score check id, e.g. container-image-pull-policy
    obj: str  # Kind/name
    container: str  # "" when the finding is about the whole object
    summary: str

    def __str__(self) -> str:
        where = f"{self.obj} ({self.container})" if self.container else self.obj
        return f"{self.env}: {where}: [{self.check}] {self.summary}"


@dataclass(frozen=True)
class Ignore:
    check: str
    reason: str
    envs: tuple[str, ...] = ()  # empty = every environment
    objects: tuple[str, ...] = ()  # Kind/name globs; empty = every object
    containers: tuple[str, ...] = ()  # container names; empty = every container

    def covers(self, finding: Finding) -> bool:
        return (finding.check == self.check
                and (not self.envs or finding.env in self.envs)
                and (not self.objects or any(fnmatch.fnmatchcase(finding.obj, g) for g in self.objects))
                and (not self.containers or finding.container in self.containers))


def load_ignores(path: Path | None = None) -> list[Ignore]:
    path = path or ignore_file()
    entries = load_yaml_file(path).get("ignore") or []
    ignores = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("check") or not str(entry.get("reason", "")).strip():
            raise BadInput(f"{path}: ignore[{index}] needs a check id and a reason")
        ignores.append(Ignore(str(entry["check"]), str(entry["reason"]).strip(),
                              tuple(entry.get("envs") or ()), tuple(entry.get("objects") or ()),
                              tuple(entry.get("containers") or ())))
    return ignores


def kubernetes_version() -> str:
    """The minor version of the pinned Kubernetes (kube-score's API deprecation checks follow it)."""
    major, minor = toolchain.load_group("k8s").version.lstrip("v").split(".")[:2]
    return f"v{major}.{minor}"


def parse(env: str, report: list[dict[str, Any]]) -> list[Finding]:
    """CRITICAL findings of a kube-score `-o json` (v2) report."""
    findings = []
    for obj in report:
        name = f"{obj['type_meta']['kind']}/{obj['object_meta']['name']}"
        for check in obj.get("checks") or []:
            if check.get("skipped") or check.get("grade") != GRADE_CRITICAL:
                continue
            for comment in check.get("comments") or [{"path": "", "summary": check["check"]["name"]}]:
                findings.append(Finding(env, check["check"]["id"], name, comment.get("path") or "",
                                        comment.get("summary") or ""))
    return findings


def score(env: str, files: list[Path]) -> list[Finding]:
    """Run kube-score over one environment's manifest files; its CRITICAL findings."""
    argv = [str(toolchain.find("kube-score")), "score", "-o", "json", "--color", "never",
            "--kubernetes-version", kubernetes_version(), *[str(f) for f in files]]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CommandFailed(argv[:2], proc.returncode, proc.stderr or proc.stdout) from None
    return parse(env, report)


def unexplained(findings: list[Finding], ignores: list[Ignore]) -> list[Finding]:
    return [f for f in findings if not any(i.covers(f) for i in ignores)]


def unused(findings: list[Finding], ignores: list[Ignore]) -> list[Ignore]:
    return [i for i in ignores if not any(i.covers(f) for f in findings)]
