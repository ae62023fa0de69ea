"""The kind provider against stand-in `kind` and `docker` executables that record their arguments."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from deploytool.clusters import kind as kind_mod
from deploytool.clusters.base import ClusterSpec
from deploytool.clusters.kind import KindProvider, render_config
from deploytool.core.errors import ToolMissing

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "kind-state"
    monkeypatch.setenv("KIND_STANDIN_DIR", str(state))
    monkeypatch.setenv("PATH", f"{STANDINS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(KindProvider, "_metrics_server", lambda self, name: "stubbed (no API server here)")
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_config_has_zones_and_the_node_port_mapping() -> None:
    cfg = render_config("demo", 4)
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker", "worker"]
    zones = [n["labels"]["topology.kubernetes.io/zone"] for n in cfg["nodes"][1:]]
    assert zones == ["zone-a", "zone-b", "zone-c", "zone-a"]
    mapping = cfg["nodes"][0]["extraPortMappings"][0]
    assert (mapping["containerPort"], mapping["hostPort"]) == (kind_mod.NODE_PORT, 19530)
    assert kind_mod.VALUES_OVERRIDES["service"]["nodePort"] == kind_mod.NODE_PORT


def test_create_is_idempotent_and_delete_cleans_up(standin: Path) -> None:
    provider = KindProvider()
    ref = provider.create("demo", ClusterSpec(nodes=3, images=("milvusdb/milvus:v2.6.24",)))
    assert (ref.provider, ref.context) == ("kind", "kind-demo")
    create = [c for c in calls(standin) if c[:2] == ["create", "cluster"]]
    assert len(create) == 1
    assert create[0][create[0].index("--name") + 1] == "demo"
    assert "--wait" in create[0] and "--kubeconfig" in create[0]
    seen = yaml.safe_load((standin / "config-seen.yaml").read_text())
    assert len(seen["nodes"]) == 4
    assert ["load", "docker-image", "milvusdb/milvus:v2.6.24", "--name", "demo"] in calls(standin)

    provider.create("demo", ClusterSpec(nodes=3))  # second create: reused, not recreated
    assert len([c for c in calls(standin) if c[:2] == ["create", "cluster"]]) == 1
    assert provider.status("demo").exists is True

    provider.delete("demo")
    assert ["delete", "cluster", "--name", "demo", "--kubeconfig", str(provider.kubeconfig("demo"))] in calls(standin)
    assert not provider.exists("demo") and not provider.workdir("demo").exists()


def test_failed_create_is_cleaned_up_unless_retained(standin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIND_STANDIN_FAIL_CREATE", "1")
    provider = KindProvider()
    with pytest.raises(Exception, match="stand-in told to fail"):
        provider.create("broken")
    assert ["delete", "cluster"] not in [c[:2] for c in calls(standin)]  # nothing was created to delete
    assert not provider.workdir("broken").exists()


def test_missing_kind_is_a_clear_tool_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    ok, why = KindProvider().available()
    assert not ok and "kind is not on PATH" in why
    with pytest.raises(ToolMissing, match="use --provider local"):
        KindProvider().create("demo")


def test_metrics_server_manifest_is_complete() -> None:
    docs = list(yaml.safe_load_all(kind_mod.METRICS_SERVER_MANIFEST.read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "APIService", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    dep = next(d for d in docs if d["kind"] == "Deployment")
    assert "--kubelet-insecure-tls" in dep["spec"]["template"]["spec"]["containers"][0]["args"]


def test_cluster_cli_with_kind_status_and_delete(standin: Path) -> None:
    from typer.testing import CliRunner

    from deploytool.cli.main import app

    runner = CliRunner()
    created = runner.invoke(app, ["cluster", "create", "--provider", "kind", "--name", "cli", "--load-image",
                                  "milvusdb/milvus:v2.6.24", "--output", "json"])
    assert created.exit_code == 0, created.output
    assert ["load", "docker-image", "milvusdb/milvus:v2.6.24", "--name", "cli"] in calls(standin)
    assert json.loads(created.stdout)["context"] == "kind-cli"
    status = runner.invoke(app, ["cluster", "status", "--provider", "kind", "--context", "cli", "--output", "json"])
    data = json.loads(status.stdout)
    assert data["exists"] is True and data["ok"] is False, "the stand-in has no API server"
    assert status.exit_code == 1 and data["api_server"]["reachable"] is False
    text = runner.invoke(app, ["cluster", "status", "--provider", "kind", "--name", "cli"])
    assert "kind cluster 'cli'" in text.output and "NOT reachable" in text.output
    deleted = runner.invoke(app, ["cluster", "delete", "--provider", "kind", "--name", "cli"])
    assert deleted.exit_code == 0 and "deleted kind cluster 'cli'" in deleted.output
    again = runner.invoke(app, ["cluster", "delete", "--provider", "kind", "--name", "cli"])
    assert again.exit_code == 0 and "nothing to delete" in again.output
