"""PNG charts of an autoscaling comparison (matplotlib, Agg backend: no display needed).

Owns: drawing ``load.png``, ``replicas.png`` and ``ttft_p95.png`` from the rows
of :meth:`controlplane.sim.compare.Comparison.rows`. Imported by bench commands
inside their ``func`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["write_charts"]


def _hours(ts: list[float]) -> list[float]:
    return [t / 3600.0 for t in ts]


def write_charts(rows: list[dict[str, Any]], out: Path, slo_ttft_s: float, title: str) -> list[Path]:
    runs = [r for r in rows if r["policy"] != "oracle"]
    if not runs:
        return []
    t = _hours(runs[0]["series"]["t_s"])
    step_h = t[1] - t[0] if len(t) > 1 else 1 / 60
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(t, runs[0]["series"]["load_rps"], lw=0.8, color="black")
    ax.set(xlabel="hours", ylabel="requests/s", title=f"Offered load: {title}")
    written.append(_save(fig, out / "load.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    for r in rows:
        ys = r["series"]["replicas"]
        xs = [(k + 0.5) * step_h for k in range(len(ys))] if r["policy"] == "oracle" else t[: len(ys)]
        style: dict[str, Any] = {"ls": "--", "color": "black"} if r["policy"] == "oracle" else {}
        ax.step(xs, ys, where="post", lw=1.0, label=r["policy"], **style)
    ax.set(xlabel="hours", ylabel="replicas (incl. starting)", title=f"Replicas per policy: {title}")
    ax.legend(loc="upper right", fontsize=8)
    written.append(_save(fig, out / "replicas.png"))

    fig, ax = plt.subplots(figsize=(10, 4))
    for r in runs:
        ys = [v if v is not None else float("nan") for v in r["series"]["ttft_p95_s"]]
        ax.plot(t[: len(ys)], ys, lw=0.8, marker=".", markersize=2, label=r["policy"])
    ax.axhline(slo_ttft_s, color="red", ls="--", lw=1.0, label=f"SLO {slo_ttft_s:g} s")
    ax.set_yscale("log")
    ax.set(xlabel="hours", ylabel="TTFT p95 (s), by arrival", title=f"TTFT p95 over time: {title}")
    ax.legend(loc="upper right", fontsize=8)
    written.append(_save(fig, out / "ttft_p95.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
