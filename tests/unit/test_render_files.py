"""manifests.render / write: error precedence with helm started first, and files rewritten only when changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytool.core.errors import UnknownEnvironment
from deploytool.core.helm import Helm
from deploytool.render import manifests
from deploytool.render.values import Layers


def _unrunnable_helm(tmp_path: Path) -> Helm:
    helm = Helm.__new__(Helm)
    helm.binary, helm.kubeconfig, helm.context = str(tmp_path / "no-helm-here"), None, None
    return helm


def test_a_values_error_is_reported_before_a_helm_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(UnknownEnvironment, match="unknown env 'qa'"):
        manifests.render(Layers("qa"), helm=_unrunnable_helm(tmp_path))
    with pytest.raises(FileNotFoundError, match="no-helm-here"):
        manifests.render(Layers("dev"), helm=_unrunnable_helm(tmp_path))


def test_only_changed_files_are_rewritten_and_stale_ones_removed(tmp_path: Path) -> None:
    out = tmp_path / "prod"
    manifests.write(manifests.render(Layers("prod")), out)
    kept, edited, stale = out / "service-milvus.yaml", out / "configmap-milvus-config.yaml", out / "pdb-old-x.yaml"
    before = kept.stat()
    original = edited.read_text()
    edited.write_text(original + "# edited by hand\n")
    stale.write_text("kind: Old\n")
    written = manifests.write(manifests.render(Layers("prod")), out)
    assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert edited.read_text() == original
    assert not stale.exists()
    assert written == sorted(out.glob("*.yaml")) and not list(out.glob(".*.tmp"))
    assert manifests.diff(manifests.render(Layers("prod")), out) == []
