"""The credentials Secret's values appear nowhere else: after `up` and a drill on the local cluster,
grep every rendered file, the helm release (values, manifest and its stored record), every
ConfigMap and other object of the cluster, the cluster's log files, the drill report and every JSON
or text output of the commands run, for the access and secret key (plain and base64).
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local.layout import Layout
from deploytool.core import paths
from deploytool.core.helm import Helm

pytestmark = pytest.mark.cluster
runner = CliRunner()
ENV, NS, RELEASE = "staging", "milvus-staging", "milvus"
SECRET_NAME = "milvus-credentials"


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def needles(*values: str) -> list[bytes]:
    """Each value as it could appear: plain, and base64 as the API and helm store data."""
    return [form for v in values for form in (v.encode(), base64.b64encode(v.encode()))]


def leaks(blob: bytes | str, secrets: list[bytes]) -> list[bytes]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [s for s in secrets if s in data]


@pytest.fixture(scope="module")
def deployed(local_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """staging up with unique credentials, a node-failure drill, and every output kept."""
    access, secret = f"leakak{uuid.uuid4().hex[:10]}", f"leaksk-{uuid.uuid4().hex}"
    where = ("--provider", "local", "--context", local_cluster.name)
    mp = pytest.MonkeyPatch()
    mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", access)
    mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", secret)
    report = tmp_path_factory.mktemp("drill") / "report"
    outputs: dict[str, str] = {}
    try:
        for name, args in [
            ("up json -v", ("up", "--env", ENV, *where, "--output", "json", "-v")),
            ("up text (second run)", ("up", "--env", ENV, *where)),
            ("status json", ("status", "--env", ENV, *where, "--output", "json")),
            ("verify json -v", ("verify", "--env", ENV, *where, "--output", "json", "-v")),
            ("drill json", ("drill", "node-failure", "--env", ENV, *where, "--drain-bound", "5", "--timeout", "90",
                            "--report", str(report), "--output", "json")),
        ]:
            result = cli(*args)
            outputs[name] = result.output
            if name.startswith("up"):
                assert result.exit_code == 0, result.output
        yield {"cluster": local_cluster, "access": access, "secret": secret, "report": report, "outputs": outputs}
    finally:
        down = cli("down", "--env", ENV, *where, "--delete-data")
        mp.undo()
        assert down.exit_code == 0, down.output


def test_the_secret_holds_the_values_we_grep_for(deployed: dict[str, Any]) -> None:
    live = deployed["cluster"].core.read_namespaced_secret(SECRET_NAME, NS)
    decoded = {k: base64.b64decode(v).decode() for k, v in live.data.items()}
    assert decoded == {"access-key": deployed["access"], "secret-key": deployed["secret"]}
    # the grep is able to see them where they are supposed to be
    assert leaks(json.dumps(live.data), needles(deployed["secret"]))


def test_no_command_output_or_report_holds_a_credential(deployed: dict[str, Any]) -> None:
    secrets = needles(deployed["access"], deployed["secret"])
    for name, text in deployed["outputs"].items():
        assert not leaks(text, secrets), f"`{name}` printed a credential"
    report = deployed["report"]
    files = [p for p in report.rglob("*") if p.is_file()]
    assert (report / "data.json") in files, deployed["outputs"]["drill json"]
    for path in files:
        assert not leaks(path.read_bytes(), secrets), f"drill report {path.name} holds a credential"


def test_no_rendered_file_holds_a_credential(deployed: dict[str, Any], tmp_path: Path) -> None:
    secrets = needles(deployed["access"], deployed["secret"])
    out = tmp_path / "rendered"
    result = cli("render", "--env", ENV, "--out", str(out))  # with the credentials still in the environment
    assert result.exit_code == 0, result.output
    for path in [*out.glob("*.yaml"), *(paths.manifests_dir() / ENV).glob("*.yaml")]:
        assert not leaks(path.read_bytes(), secrets), f"{path} holds a credential"


def test_the_helm_release_holds_no_credential(deployed: dict[str, Any]) -> None:
    cluster = deployed["cluster"]
    secrets = needles(deployed["access"], deployed["secret"])
    helm = Helm(str(cluster.kubeconfig), cluster.context)
    assert not leaks(json.dumps(helm.get_values(RELEASE, NS)), secrets), "helm get values"
    manifest = helm.get_manifest(RELEASE, NS)
    assert "kind: StatefulSet" in manifest and not leaks(manifest, secrets), "helm get manifest"
    # helm's own record of every revision: Secrets sh.helm.release.v1.<release>.vN (base64 of gzip JSON)
    records = cluster.core.list_namespaced_secret(NS, label_selector=f"owner=helm,name={RELEASE}").items
    assert records, "no helm release record found"
    for record in records:
        release = gzip.decompress(base64.b64decode(base64.b64decode(record.data["release"])))
        assert b'"manifest"' in release and not leaks(release, secrets), record.metadata.name


def test_no_other_object_in_the_cluster_holds_a_credential(deployed: dict[str, Any]) -> None:
    cluster = deployed["cluster"]
    secrets = needles(deployed["access"], deployed["secret"])
    core, apps = cluster.core, cluster.apps
    dumps = {
        "configmaps": core.list_config_map_for_all_namespaces(),
        "pods": core.list_pod_for_all_namespaces(),
        "events": core.list_event_for_all_namespaces(),
        "services": core.list_service_for_all_namespaces(),
        "deployments": apps.list_deployment_for_all_namespaces(),
        "statefulsets": apps.list_stateful_set_for_all_namespaces(),
        "controllerrevisions": apps.list_controller_revision_for_all_namespaces(),
        "replicasets": apps.list_replica_set_for_all_namespaces(),
    }
    assert any(cm.metadata.name == "milvus-config" for cm in dumps["configmaps"].items)
    api = client.ApiClient()
    for kind, listing in dumps.items():
        text = json.dumps(api.sanitize_for_serialization(listing), default=str)
        assert not leaks(text, secrets), f"a {kind} object holds a credential"
    others = [s for s in core.list_secret_for_all_namespaces().items
              if s.metadata.name != SECRET_NAME and not (s.metadata.labels or {}).get("owner") == "helm"]
    for item in others:
        assert not leaks(json.dumps(item.data or {}), secrets), f"Secret {item.metadata.name} holds a credential"


def test_no_cluster_log_line_holds_a_credential(deployed: dict[str, Any]) -> None:
    secrets = needles(deployed["access"], deployed["secret"])
    layout = Layout(deployed["cluster"].name)
    logs = [p for folder in (layout.logs_dir, layout.kwok_logs_dir) if folder.is_dir()
            for p in folder.rglob("*") if p.is_file()]
    assert logs, f"no log files under {layout.root}"
    for path in logs:
        assert not leaks(path.read_bytes(), secrets), f"{path} holds a credential"
