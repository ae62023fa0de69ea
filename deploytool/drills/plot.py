"""timeline.png: replicas per component over time, then probe latency and errors, with phase markers.

Small multiples: one row per component (desired dashed, ready and available solid, updated
dotted; the client component also shows ready Service endpoints and the HPA's desired count), and
a last row with every probe search (latency, log scale), errors as red crosses and reconnects as
orange triangles. Vertical lines mark the drill's phases on every row.
"""

from __future__ import annotations

from pathlib import Path

from deploytool.drills.model import DrillResult, Recording
from deploytool.render.components import CLUSTER_COMPONENTS

ORDER = [name for _, name in CLUSTER_COMPONENTS] + ["standalone", "etcd", "minio"]


def _components(rec: Recording) -> list[str]:
    present = set(rec.workloads) | {s.component for s in rec.workload_samples}
    return sorted(present, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))


def _step(ax, samples: list[tuple[float, float]], t_end: float, **style) -> None:  # type: ignore[no-untyped-def]
    if not samples:
        return
    ts = [t for t, _ in samples] + [max(t_end, samples[-1][0])]
    vs = [v for _, v in samples] + [samples[-1][1]]
    ax.step(ts, vs, where="post", **style)


def draw_timeline(result: DrillResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    rec = result.recording
    comps = _components(rec)
    t_end = max([result.seconds] + [s.t for s in rec.probe_samples] + [s.t for s in rec.workload_samples] + [1.0])
    rows = len(comps) + 1
    phase_lines = -(-len(rec.phases) // 3)
    legend_in = 0.15 * phase_lines + 0.1  # inches under the plots for the numbered phase list
    height = 1.25 * len(comps) + 3.4 + legend_in
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(12, height),
                             gridspec_kw={"height_ratios": [1.0] * len(comps) + [2.2]})
    axes = list(axes) if rows > 1 else [axes]
    client = next((c for c in ("proxy", "standalone") if c in comps), None)
    for ax, comp in zip(axes, comps, strict=False):
        samples = sorted((s for s in rec.workload_samples if s.component == comp), key=lambda s: s.t)
        _step(ax, [(s.t, s.desired) for s in samples], t_end, color="0.45", linestyle="--", linewidth=1.3,
              label="desired")
        _step(ax, [(s.t, s.available) for s in samples], t_end, color="tab:green", linewidth=2.2, alpha=0.6,
              label="available")
        _step(ax, [(s.t, s.ready) for s in samples], t_end, color="tab:blue", linewidth=1.2, label="ready")
        _step(ax, [(s.t, s.updated) for s in samples], t_end, color="tab:orange", linestyle=":", linewidth=1.5,
              label="updated")
        if comp == client:
            eps = sorted(rec.endpoint_samples, key=lambda e: e.t)
            _step(ax, [(e.t, e.ready) for e in eps], t_end, color="tab:purple", linewidth=1.0, alpha=0.8,
                  label="ready endpoints")
        hpa = sorted((h for h in rec.hpa_samples if h.name.endswith(f"-{comp}")), key=lambda h: h.t)
        _step(ax, [(h.t, h.desired) for h in hpa], t_end, color="tab:red", linestyle="-.", linewidth=1.2,
              label="HPA desired")
        info = rec.workloads.get(comp)
        extra = f" (anti-affinity {info.anti_affinity_key.split('/')[-1]})" if info and info.anti_affinity_key else ""
        ax.set_ylabel(comp + extra, rotation=0, ha="right", va="center", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        top = max([s.desired for s in samples] + [s.available for s in samples] + [h.desired for h in hpa] + [1])
        ax.set_ylim(-0.3, top + 0.8)
        ax.grid(axis="y", alpha=0.3)
    handles: dict[str, object] = {}
    for ax in axes[:-1]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=False):
            handles.setdefault(label, handle)
    if handles:
        axes[0].legend(list(handles.values()), list(handles.keys()), loc="lower left", bbox_to_anchor=(0, 1.02),
                       ncol=len(handles), fontsize=8, frameon=False)

    ax = axes[-1]
    ok = [s for s in rec.probe_samples if s.kind == "search" and s.ok and s.latency_ms is not None]
    errors = [s for s in rec.probe_samples if s.kind == "search" and not s.ok]
    moves = [s for s in rec.probe_samples if s.kind == "reconnect"]
    if ok:
        ax.scatter([s.t for s in ok], [max(s.latency_ms or 0.1, 0.1) for s in ok], s=4, color="tab:blue",
                   label=f"search latency ({len(ok)} ok)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ceiling = max([s.latency_ms or 1 for s in ok] + [100.0]) * 2
    if errors:
        ax.scatter([s.t for s in errors], [ceiling] * len(errors), marker="x", s=40, color="tab:red",
                   label=f"errors ({len(errors)})")
    if moves:
        ax.scatter([s.t for s in moves], [ceiling / 2] * len(moves), marker="v", s=40, color="tab:orange",
                   label=f"probe moved to another pod ({len(moves)})")
    ax.set_ylabel("probe\nlatency (ms)", rotation=0, ha="right", va="center", fontsize=9)
    ax.set_xlabel("seconds since the drill started")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)

    for number, phase in enumerate(rec.phases, 1):
        for row in axes:
            row.axvline(phase.t, color="black", alpha=0.35, linewidth=0.8)
        axes[0].annotate(str(number), xy=(phase.t, 1.0), xycoords=("data", "axes fraction"),
                         xytext=(0, -2 - 9 * ((number - 1) % 3)), textcoords="offset points", ha="center",
                         va="top", fontsize=7, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.6"})
    legend = [f"{n}  {p.t:6.1f}s  {p.name}" for n, p in enumerate(rec.phases, 1)]
    columns = 3
    per_column = -(-len(legend) // columns) if legend else 0
    for col in range(columns):
        chunk = legend[col * per_column:(col + 1) * per_column]
        if chunk:
            fig.text(0.02 + col * 0.33, (legend_in - 0.05) / height, "\n".join(chunk), fontsize=7.5,
                     family="monospace", va="top")
    axes[-1].set_xlim(0, t_end * 1.01)
    verdict = "PASSED" if result.ok else "FAILED"
    fig.suptitle(f"deploytool drill {result.drill} — env {result.env} on {result.cluster} — {verdict}", fontsize=12)
    fig.tight_layout(rect=(0, legend_in / height, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
