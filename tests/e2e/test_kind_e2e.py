"""End to end on kind with real Milvus images: up dev, verify, smoke, down.

Runs where Docker and kind work (the GitHub workflow e2e-kind.yml); skipped elsewhere with the
reason (tests/conftest.py).
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.base import ClusterSpec
from deploytool.clusters.kind import KindProvider
from deploytool.core import paths

pytestmark = pytest.mark.kind
runner = CliRunner()


@pytest.fixture(scope="module")
def kind_cluster():
    name = f"dt-e2e-{uuid.uuid4().hex[:6]}"
    tag = yaml.safe_load((paths.chart_dir() / "values.yaml").read_text())["image"]["tag"]
    provider = KindProvider()
    provider.create(name, ClusterSpec(nodes=1, images=(f"milvusdb/milvus:{tag}",)))  # pre-pulled by the workflow
    try:
        yield name
    finally:
        provider.delete(name)


def test_dev_up_verify_down_on_kind(kind_cluster: str) -> None:
    common = ["--env", "dev", "--provider", "kind", "--context", kind_cluster]
    up = runner.invoke(app, ["up", *common, "--timeout", "900", "--output", "json"])
    assert up.exit_code == 0, up.output
    data = json.loads(up.stdout)
    assert data["smoke"]["inserted"] == 1000  # run_smoke raises unless the top hit is the query itself

    again = runner.invoke(app, ["up", *common, "--output", "json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False

    verify = runner.invoke(app, ["verify", *common, "--output", "json"])
    assert verify.exit_code == 0, verify.output
    milvus = next(r for r in json.loads(verify.stdout)["results"] if r["name"] == "milvus")
    assert any("/healthz" in line for line in milvus["evidence"]), "real pods serve /healthz on kind"

    down = runner.invoke(app, ["down", *common, "--delete-data"])
    assert down.exit_code == 0, down.output
