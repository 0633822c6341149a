"""The demo's chart and summary table: load, replicas, and TTFT p95 against the SLO."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controlplane.policy.model import ScalingPolicy

__all__ = ["write_chart", "format_summary", "BUCKET_S"]

# Width of the load and TTFT buckets (s): 2.5 controller ticks, ~17 requests at the demo's 7 req/s.
BUCKET_S = 5.0


def write_chart(
    path: Path, policy: ScalingPolicy, requests: Sequence[dict[str, Any]], points: Sequence[Any], start: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sent = np.array([r["sent_at"] - start for r in requests], dtype=float)
    ok = [r for r in requests if r.get("ok") and r.get("ttft_s") is not None]
    fig, (ax_load, ax_rep, ax_ttft) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    end = max([float(sent.max()) if len(sent) else 0.0] + [p.t for p in points] + [1.0])
    bins = np.arange(0.0, end + BUCKET_S, BUCKET_S)
    counts, edges = np.histogram(sent, bins=bins)
    ax_load.step(edges[:-1], counts / BUCKET_S, where="post", color="tab:blue")
    ax_load.set_ylabel("requests/s sent")
    ax_load.set_title(f"requests sent per second, mean over {BUCKET_S:g} s buckets", fontsize=9, loc="left")
    fig.suptitle(f"{policy.name}: load, replicas and TTFT p95 (SLO {policy.slo.ttft_p95_s:g} s)")

    t = [p.t for p in points]
    ax_rep.step(t, [p.spec for p in points], where="post", label="replicas (spec)", color="tab:orange")
    ax_rep.step(t, [p.ready for p in points], where="post", label="ready", color="tab:green", linestyle="--")
    ax_rep.step(t, [p.desired for p in points], where="post", label="desired", color="tab:red", alpha=0.5)
    ax_rep.set_ylabel("replicas")
    ax_rep.set_title("replicas at each controller tick", fontsize=9, loc="left")
    ax_rep.set_ylim(0, policy.max_replicas + 1)
    ax_rep.legend(loc="upper left")

    if ok:
        at = np.array([r["sent_at"] - start for r in ok], dtype=float)
        ttft = np.array([r["ttft_s"] for r in ok], dtype=float)
        centers, p95 = [], []
        for lo in bins[:-1]:
            m = (at >= lo) & (at < lo + BUCKET_S)
            if m.sum() >= 3:
                centers.append(lo)
                p95.append(float(np.percentile(ttft[m], 95)))
        ax_ttft.plot(centers, p95, color="tab:purple", label="TTFT p95 (client side)")
    ax_ttft.axhline(policy.slo.ttft_p95_s, color="red", linestyle=":", label="SLO")
    ax_ttft.set_ylabel("seconds")
    ax_ttft.set_title(f"TTFT p95 of the requests sent in each {BUCKET_S:g} s bucket (3 or more)", fontsize=9,
                      loc="left")
    ax_ttft.set_xlabel("seconds since the controller started")
    ax_ttft.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def format_summary(summary: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = "{:.3f}") -> str:
        return "n/a" if v is None else fmt.format(v)

    rows = [
        ("requests (ok / errors)", f"{summary['requests']} ({summary['ok']} / {summary['errors']})"),
        (f"share within TTFT SLO ({summary['ttft_slo_s']:g} s)", f(summary["share_within_ttft_slo"], "{:.1%}")),
        ("TTFT p50 / p95 (s)", f"{f(summary['ttft_p50_s'])} / {f(summary['ttft_p95_s'])}"),
        ("replica-seconds", f"{summary['replica_seconds']:.0f}"),
        ("peak replicas", str(summary["peak_replicas"])),
        ("scale events (up / down)", f"{summary['scale_ups']} / {summary['scale_downs']}"),
        ("decisions (invalid)", f"{summary['decisions']} ({summary['invalid_decisions']})"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    bar = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([bar, *lines, bar])
