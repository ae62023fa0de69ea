"""The drill report folder from synthetic samples: data.json round-trips, summary.md tells the verdict
with evidence, timeline.png is a real PNG with something drawn on it."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from pathlib import Path

from deploytool.drills import checks
from deploytool.drills.model import (
    DrillResult,
    EndpointSample,
    HpaSample,
    Phase,
    PodSample,
    ProbeSample,
    Recording,
    WorkloadInfo,
    WorkloadSample,
)
from deploytool.drills.report import default_dir, load_result, summary_markdown, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic(ok: bool = True) -> DrillResult:
    rec = Recording()
    for comp, replicas, anti in (("mixcoord", 1, None), ("querynode", 3, "kubernetes.io/hostname"),
                                 ("proxy", 3, "kubernetes.io/hostname"), ("etcd", 3, "kubernetes.io/hostname")):
        rec.workloads[comp] = WorkloadInfo(comp, "StatefulSet" if comp == "etcd" else "Deployment",
                                           f"milvus-{comp}", 0 if comp != "etcd" else 1, 1, anti)
        rec.workload_samples.append(WorkloadSample(0.0, comp, replicas, replicas, replicas, replicas, replicas))
    # proxy rolls: surge to 4, back to 3, all updated; a dip below the floor when ok=False
    for t, ready, updated in ((10, 4, 1), (11, 3, 1), (12, 4, 2), (13, 3, 2), (14, 4, 3), (15, 3, 3)):
        rec.workload_samples.append(WorkloadSample(t, "proxy", 3, ready, ready, updated, ready))
    if not ok:
        rec.workload_samples.append(WorkloadSample(16, "proxy", 3, 2, 2, 3, 3))
        rec.workload_samples.append(WorkloadSample(18, "proxy", 3, 3, 3, 3, 3))
    for i in range(3):
        rec.pod_samples.append(PodSample(0.0, f"milvus-proxy-{i}", "proxy", f"node-{i}", "Running", True, False,
                                         False, "v2.6.24"))
    rec.endpoint_samples += [EndpointSample(0, "milvus", 3), EndpointSample(13, "milvus", 2),
                             EndpointSample(14, "milvus", 3)]
    rec.hpa_samples += [HpaSample(0, "milvus-proxy", 3, 3, 1), HpaSample(20, "milvus-proxy", 3, 6, 140)]
    rec.probe_samples += [ProbeSample(i * 0.05, True, 5.0 + (i % 7), "milvus-proxy-0") for i in range(500)]
    rec.probe_samples += [ProbeSample(13.0, True, 80.0, "milvus-proxy-1", "milvus-proxy-0 -> milvus-proxy-1",
                                      "reconnect")]
    if not ok:
        rec.probe_samples.append(ProbeSample(16.5, False, None, "milvus-proxy-1", "UNAVAILABLE: connection reset"))
    rec.phases += [Phase(2, "probe running"), Phase(10, "upgrade proxy"), Phase(16, "upgrade complete")]
    assertions = [checks.floor_assertion(rec, start=10), checks.probe_assertion(rec.probe_samples, 0)]
    return DrillResult("upgrade", "prod", "local/test", "2025-01-01T00:00:00+00:00", 25.0,
                       {"to": "v3.0.2", "probe_rate": 20}, rec, assertions, {"step proxy": 5.2}, ["simulated: x"])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_folder_has_json_markdown_and_png(tmp_path: Path) -> None:
    result = synthetic(ok=True)
    files = write_report(result, tmp_path / "r")
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"data.json", "summary.md", "timeline.png"}
    data = json.loads(files["data"].read_text())
    assert data["ok"] is True and data["drill"] == "upgrade" and data["parameters"]["to"] == "v3.0.2"
    assert len(data["recording"]["probe_samples"]) == 501
    assert [a["name"] for a in data["assertions"]] == ["availability floor", "probe kept answering"]
    width, height = png_size(files["timeline"])
    assert width >= 800 and height >= 600
    assert files["timeline"].stat().st_size > 20_000  # lines and 500 points, not an empty canvas


def test_data_json_round_trips(tmp_path: Path) -> None:
    result = synthetic(ok=False)
    write_report(result, tmp_path)
    again = load_result(tmp_path)
    assert again.recording == result.recording
    assert again.assertions == result.assertions
    assert not again.ok


def test_summary_states_verdict_evidence_and_timings() -> None:
    passed = summary_markdown(synthetic(ok=True))
    assert passed.startswith("# Drill `upgrade` on env `prod`: PASSED")
    assert "✓ **availability floor**" in passed and "| step proxy | 5.2 |" in passed
    assert "| 10.0 | upgrade proxy |" in passed and "![timeline](timeline.png)" in passed
    failed = summary_markdown(synthetic(ok=False))
    assert "FAILED" in failed.splitlines()[0]
    assert "✗ **availability floor**" in failed
    assert "below floor at t=16.0s: proxy available 2 < 3" in failed
    assert "✗ **probe kept answering** — 1 error(s)" in failed
    assert "UNAVAILABLE: connection reset" in failed


def test_failed_result_still_draws(tmp_path: Path) -> None:
    files = write_report(synthetic(ok=False), tmp_path)
    assert png_size(files["timeline"])[0] >= 800


def test_empty_recording_still_writes_a_report(tmp_path: Path) -> None:
    result = DrillResult("autoscale", "dev", "local/x", "2025-01-01T00:00:00+00:00", 1.0, {}, Recording())
    files = write_report(result, tmp_path)
    assert not result.ok
    assert "no assertion could be evaluated" in files["summary"].read_text()
    png_size(files["timeline"])


def test_default_report_dir_is_per_env_drill_and_utc_time() -> None:
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert default_dir("prod", "node-failure", when) == Path("reports/prod/node-failure-20250304T050607Z")
