from __future__ import annotations

from pathlib import Path

import pytest

from deploytool.core import toolchain
from deploytool.core.errors import ToolMissing


def test_every_group_pins_its_upstream() -> None:
    expected = {"helm": "helm.sh/helm/v3", "etcd": "go.etcd.io/etcd/server/v3", "kwok": "sigs.k8s.io/kwok",
                "metrics-server": "sigs.k8s.io/metrics-server", "k8s": "k8s.io/kubernetes"}
    for name, upstream in expected.items():
        group = toolchain.load_group(name)
        assert group.upstream == upstream
        assert group.version.startswith("v")
    assert toolchain.load_group("k8s").version == "v1.34.4"
    assert len(toolchain.load_group("k8s").packages) == 6  # + kubelet, kube-proxy for real nodes


def test_k8s_staging_modules_are_replaced_with_matching_versions() -> None:
    text = (toolchain.paths.tools_src_dir() / "k8s" / "go.mod").read_text()
    assert "k8s.io/client-go => k8s.io/client-go v0.34.4" in text
    assert "k8s.io/api => k8s.io/api v0.34.4" in text


def test_k8s_binaries_get_version_ldflags() -> None:
    flags = " ".join(toolchain.load_group("k8s").ldflags())
    assert "k8s.io/component-base/version.gitVersion=v1.34.4" in flags
    assert "gitMinor=34" in flags


def test_missing_tool_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="make tools"):
        toolchain.find("kube-apiserver")
    with pytest.raises(ToolMissing, match="DEPLOYTOOL_HELM"):
        toolchain.find("helm")


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTOOL_KWOKCTL", "/opt/kwokctl")
    assert toolchain.find("kwokctl") == Path("/opt/kwokctl")


def test_stamp_mismatch_means_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path))
    group = toolchain.load_group("helm")
    group.out_dir.mkdir(parents=True)
    (group.out_dir / toolchain.STAMP).write_text("stale\n")
    assert not group.is_built()
    (group.out_dir / toolchain.STAMP).write_text(group.fingerprint() + "\n")
    assert group.is_built()
