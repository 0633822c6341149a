"""PNG charts of an autoscaling comparison (matplotlib, Agg backend: no display needed).

Owns: drawing ``load.png``, ``replicas.png`` (one panel per policy, each on its
own scale) and ``ttft_p95.png`` from the rows of
:meth:`controlplane.sim.compare.Comparison.rows`; every title states the bucket
width of the series it plots. Imported by bench commands
inside their ``func`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = ["write_charts", "replicas_figure", "bucket_label"]


def _hours(ts: list[float]) -> list[float]:
    return [t / 3600.0 for t in ts]


def bucket_label(step_s: float) -> str:
    """``60 s`` or ``2 min`` or ``1.5 h``: a bucket width as a title states it."""
    if step_s < 120:
        return f"{step_s:g} s"
    if step_s < 7200:
        return f"{step_s / 60:.3g} min"
    return f"{step_s / 3600:.3g} h"


def write_charts(rows: list[dict[str, Any]], out: Path, slo_ttft_s: float, title: str) -> list[Path]:
    runs = [r for r in rows if r["policy"] != "oracle"]
    if not runs:
        return []
    t_s = runs[0]["series"]["t_s"]
    step_s = t_s[1] - t_s[0] if len(t_s) > 1 else 60.0
    bucket = bucket_label(step_s)
    t = _hours(t_s)
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(t, runs[0]["series"]["load_rps"], lw=0.8, color="black")
    ax.set(xlabel="hours", ylabel="requests/s", title=f"Offered load: {title} (arrivals per {bucket} bucket)")
    written.append(_save(fig, out / "load.png"))

    written.append(_save(replicas_figure(rows, step_s, title), out / "replicas.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    for r in runs:
        # each run's own time axis: a policy whose backlog outlasts the trace has more buckets
        ys = [v if v is not None else float("nan") for v in r["series"]["ttft_p95_s"]]
        ax.plot(_hours(r["series"]["t_s"]), ys, lw=0.8, marker=".", markersize=2, label=r["policy"])
    ax.axhline(slo_ttft_s, color="red", ls="--", lw=1.0, label=f"SLO {slo_ttft_s:g} s")
    ax.set_yscale("log")
    ax.set(xlabel="hours", ylabel="TTFT p95 (s), by arrival",
           title=f"TTFT p95 over time: {title} (requests arriving in each {bucket} bucket)")
    ax.legend(loc="upper right", fontsize=8)
    written.append(_save(fig, out / "ttft_p95.png"))
    return written


def replicas_figure(rows: list[dict[str, Any]], step_s: float, title: str) -> Any:
    """One panel per policy, each on its own scale: a baseline peaking at 64 replicas
    must not flatten the ones that hold 1-4. The oracle's lower bound is drawn in each."""
    runs = [r for r in rows if r["policy"] != "oracle"]
    oracle = next((r for r in rows if r["policy"] == "oracle"), None)
    bucket = bucket_label(step_s)
    step_h = step_s / 3600.0
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 1.3 + 1.5 * len(runs)), sharex=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (ax, r) in enumerate(zip(axes[:, 0], runs, strict=True)):
        ys = r["series"]["replicas"]
        ax.step([i * step_h for i in range(len(ys))], ys, where="post", lw=1.0, color=colors[k % len(colors)])
        peak = max(ys, default=0.0)
        top = peak
        if oracle is not None:
            oys = oracle["series"]["replicas"]
            ax.step([i * step_h for i in range(len(oys))], oys, where="post", lw=0.9, ls="--", color="black",
                    label="oracle (lower bound)")
            top = max(top, max(oys, default=0.0))
        mean = sum(ys) / len(ys) if ys else 0.0
        ax.set_ylim(0, max(1.0, top) * 1.15)
        ax.set_title(f"{r['policy']}: replicas incl. starting, mean per {bucket} bucket "
                     f"(peak {peak:.1f}, mean {mean:.1f})", fontsize=9, loc="left")
        ax.set_ylabel("replicas", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", lw=0.3, alpha=0.6)
    if oracle is not None:
        axes[0, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("hours")
    fig.suptitle(f"Replicas per policy: {title} (each panel on its own scale)", fontsize=11)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
