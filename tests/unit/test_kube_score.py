"""kube-score (pinned, built by `make tools`) on the rendered manifests of every environment.

Every CRITICAL is fixed in the chart or listed with its reason in tools/kube-score/ignore.yaml;
no entry there may outlive the finding it explains.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deploytool.render import kube_score, manifests
from deploytool.render.kube_score import Finding, Ignore
from deploytool.render.manifests import Rendered
from deploytool.render.versions import LATEST_PATCHES

V3_TAG = str(LATEST_PATCHES[(3, 0)])
CASES: dict[str, tuple[str, ...]] = {"dev": ("dev",), "staging": ("staging",), "prod": ("prod",),
                                     "prod-v3": ("prod", f"image.tag={V3_TAG}")}
_findings: dict[str, list[Finding]] = {}


def _write(objects: list[dict], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for obj in objects:
        path = folder / manifests.object_filename(obj)
        path.write_text(manifests.dump(obj))
        files.append(path)
    return files


@pytest.fixture(scope="module")
def findings(render_env: Callable[..., Rendered], tmp_path_factory: pytest.TempPathFactory,
             ) -> Callable[[str], list[Finding]]:
    """case name -> kube-score's CRITICAL findings on its rendered objects (run once per case)."""
    return lambda case: _score(case, render_env, tmp_path_factory)


def _score(case: str, render_env: Callable[..., Rendered], tmp: pytest.TempPathFactory) -> list[Finding]:
    if case not in _findings:
        rendered = render_env(*CASES[case])
        _findings[case] = kube_score.score(case, _write(rendered.objects, tmp.mktemp(case)))
    return _findings[case]


def test_the_prod_v3_case_really_runs_a_3x_tag() -> None:
    assert V3_TAG.startswith("v3.")


@pytest.mark.parametrize("case", list(CASES))
def test_every_critical_is_fixed_or_explained(case: str, findings: Callable[[str], list[Finding]]) -> None:
    left = kube_score.unexplained(findings(case), kube_score.load_ignores())
    assert left == [], "\n".join(map(str, left))


def test_every_ignore_entry_still_explains_something(findings: Callable[[str], list[Finding]]) -> None:
    everything = [f for case in CASES for f in findings(case)]
    stale = kube_score.unused(everything, kube_score.load_ignores())
    assert stale == [], f"entries in {kube_score.ignore_file()} match no finding: {stale}"


def test_an_unhardened_workload_is_caught(tmp_path: Path) -> None:
    bare = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare", "namespace": "x"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bare"}}, "template": {
                "metadata": {"labels": {"app": "bare"}},
                "spec": {"containers": [{"name": "bare", "image": "example/bare:1.0"}]}}}}
    left = kube_score.unexplained(kube_score.score("prod", _write([bare], tmp_path)), kube_score.load_ignores())
    checks = {f.check for f in left}
    assert {"container-resources", "container-ephemeral-storage-request-and-limit", "pod-networkpolicy",
            "deployment-has-poddisruptionbudget"} <= checks, checks


def test_ignore_entries_are_scoped() -> None:
    only_dev = Ignore("pod-networkpolicy", "off in dev", envs=("dev",))
    minio = Ignore("container-security-context-readonlyrootfilesystem", "r", objects=("StatefulSet/*-minio",))
    assert only_dev.covers(Finding("dev", "pod-networkpolicy", "StatefulSet/milvus-standalone", "", ""))
    assert not only_dev.covers(Finding("prod", "pod-networkpolicy", "Deployment/milvus-proxy", "", ""))
    assert minio.covers(Finding("prod", minio.check, "StatefulSet/milvus-minio", "minio", ""))
    assert not minio.covers(Finding("prod", minio.check, "StatefulSet/milvus-etcd", "etcd", ""))


def test_every_ignore_entry_gives_a_reason() -> None:
    ignores = kube_score.load_ignores()
    assert ignores and all(len(i.reason) > 40 for i in ignores)
