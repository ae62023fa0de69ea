"""The helm release: installed, its last revision deployed (not failed or stuck pending), with the
chart the env renders."""

from __future__ import annotations

from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.verify import FAIL, PASS, Result
from deploytool.render.manifests import Rendered

CHART_LABEL = "helm.sh/chart"


def rendered_chart(expected: Rendered) -> str:
    """The chart name-version the render stamps on its objects (helm.sh/chart), if any."""
    return next((o["metadata"]["labels"][CHART_LABEL] for o in expected.objects
                 if CHART_LABEL in (o["metadata"].get("labels") or {})), "")


def check_release(expected: Rendered, snap: Snapshot) -> Result:
    release = expected.target.release
    if not snap.release_history:
        return Result("release", FAIL, [f"helm release {release} is not installed in {snap.namespace}"],
                      "run `deploytool up`")
    last = max(snap.release_history, key=lambda r: r.revision)
    line = (f"helm release {release} revision {last.revision} {last.status} (chart {last.chart}, "
            f"app {last.app_version}), updated {last.updated}")
    bad = []
    if last.status != "deployed":
        bad.append(f"{line}: {last.description}" if last.description else line)
        if last.status.startswith("pending-"):
            bad.append("a helm operation was interrupted or is still running; helm refuses another until it ends")
    chart = rendered_chart(expected)
    if chart and last.chart and last.chart != chart:
        bad.append(f"helm release {release} runs chart {last.chart}, the env renders {chart}")
    if bad:
        return Result("release", FAIL, bad, "re-run `deploytool up`; `helm history` shows every revision")
    return Result("release", PASS, [line])
