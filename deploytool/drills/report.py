"""The report folder of a drill: data.json (everything), summary.md (for people), timeline.png."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deploytool.drills.checks import probe_stats
from deploytool.drills.model import DrillResult
from deploytool.drills.plot import draw_timeline

OK_MARK, FAIL_MARK = "✓", "✗"


def default_dir(env: str, drill: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / env / f"{drill}-{stamp}"


def summary_markdown(result: DrillResult) -> str:
    verdict = "PASSED" if result.ok else "FAILED"
    lines = [f"# Drill `{result.drill}` on env `{result.env}`: {verdict}", "",
             f"- cluster: {result.cluster}",
             f"- started: {result.started_utc} (UTC), took {result.seconds:.1f}s",
             "- parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(result.parameters.items())
                                          if not isinstance(v, dict | list) or len(str(v)) <= 200)
             + " (the rest in data.json)", "",
             "## Assertions", ""]
    for a in result.assertions:
        lines.append(f"- {OK_MARK if a.ok else FAIL_MARK} **{a.name}** — {a.observed} (expected: {a.expected})")
        lines += [f"  - {e}" for e in a.evidence]
    if not result.assertions:
        lines.append(f"- {FAIL_MARK} no assertion could be evaluated")
    lines += ["", "## Timings", ""]
    if result.timings:
        lines += ["| what | seconds |", "|---|---:|"] + [f"| {k} | {v:.1f} |" for k, v in result.timings.items()]
    lines += ["", "## Phases", "", "| t (s) | phase | detail |", "|---:|---|---|"]
    lines += [f"| {p.t:.1f} | {p.name} | {p.detail} |" for p in result.recording.phases]
    st = probe_stats(result.recording.probe_samples)
    lines += ["", "## Probe", "",
              f"{st.searches} searches, {st.errors} error(s), latency p50 {st.p50_ms} ms / p99 {st.p99_ms} ms / "
              f"max {st.max_ms} ms, {st.reconnects} move(s) to another pod, {st.skipped} tick(s) skipped while busy."]
    lines += [f"- {e}" for e in st.first_errors]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    lines += ["", "## Timeline", "", "![timeline](timeline.png)", "",
              "Rows: desired (dashed), available (thick green), ready (blue), updated (dotted) replicas per "
              "component; the client component also shows ready Service endpoints and the HPA's desired "
              "count. Last row: every probe search (latency, log scale), errors (red x), moves to another "
              "pod (orange v). Vertical lines are the drill's phases. All samples are in data.json.", ""]
    return "\n".join(lines)


def write_report(result: DrillResult, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"data": folder / "data.json", "summary": folder / "summary.md", "timeline": folder / "timeline.png"}
    files["data"].write_text(json.dumps(result.as_dict(), indent=1, sort_keys=True, default=str) + "\n")
    files["summary"].write_text(summary_markdown(result))
    draw_timeline(result, files["timeline"])
    return files


def load_result(folder: Path) -> DrillResult:
    return DrillResult.from_dict(json.loads((folder / "data.json").read_text()))
