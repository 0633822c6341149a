"""The figures of one simulated run, and its time series for charts.

Owns: :class:`RunResult` (per-request latencies, replica life times, scale
events) and the summary every comparison prints: SLO shares, TTFT quantiles,
GPU-hours, scale events and direction reversals, peak queue. Must not import:
any I/O library.

GPU-hours count every replica from the moment it was asked for (starting,
ready and draining) until it is gone or the run ends, one GPU per replica. A
request that never got a first token counts as missing every SLO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RunResult", "SloTargets", "reversals"]

_NEVER = 1e18


@dataclass(frozen=True)
class SloTargets:
    """Per-request targets (s) and the share of requests that must meet the TTFT one."""

    ttft_s: float
    itl_s: float = 0.1
    e2e_s: float = 60.0
    objective: float = 0.99


def reversals(events: list[tuple[float, int, int]]) -> int:
    """Direction changes between consecutive scale events (up then down, or down then up)."""
    out, last = 0, 0
    for _, before, after in events:
        d = 1 if after > before else -1
        if last and d != last:
            out += 1
        last = d
    return out


def _q(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


@dataclass(frozen=True)
class RunResult:
    name: str
    arrival_s: np.ndarray
    ttft: np.ndarray  # s, NaN: no first token
    e2e: np.ndarray
    itl: np.ndarray  # mean inter-token gap of each request (0 for one-token outputs)
    created: np.ndarray  # per replica
    ended: np.ndarray  # per replica, NaN: alive at the end
    horizon: float
    replica_log: list[tuple[float, int, int]]  # (t, replicas incl. starting/draining, ready) after each change
    scale_events: list[tuple[float, int, int]]  # (t, from, to)
    peak_waiting: float
    clipped: int
    served_by: np.ndarray | None = None  # replica index each request was routed to (-1: never)
    finished_events: int = 0  # "finished" events seen: equals the request count when each finished once
    prefix_queried_tokens: int = 0  # prompt tokens looked up in the replicas' prefix caches
    prefix_hit_tokens: int = 0  # of those, found cached (not prefilled)

    @property
    def prefix_cache_hit_ratio(self) -> float | None:
        """Hit tokens over queried tokens (None when nothing was looked up)."""
        q = self.prefix_queried_tokens
        return self.prefix_hit_tokens / q if q else None

    @staticmethod
    def build(**kw: Any) -> RunResult:
        return RunResult(**kw)

    @property
    def replica_seconds(self) -> float:
        end = np.where(np.isnan(self.ended), self.horizon, np.minimum(self.ended, self.horizon))
        return float(np.sum(np.maximum(0.0, end - self.created)))

    @property
    def gpu_hours(self) -> float:
        return self.replica_seconds / 3600.0

    def share_within(self, values: np.ndarray, target: float) -> float:
        if not len(values):
            return 1.0
        ok = np.nan_to_num(values, nan=math.inf) <= target
        return float(np.mean(ok))

    def summary(self, slo: SloTargets) -> dict[str, Any]:
        done = self.ttft[~np.isnan(self.ttft)]
        share = self.share_within(self.ttft, slo.ttft_s)
        return {
            "policy": self.name,
            "requests": int(len(self.ttft)),
            "unfinished": int(np.sum(np.isnan(self.e2e))),
            "clipped_to_max_model_len": self.clipped,
            "slo_ttft_s": slo.ttft_s,
            "ttft_within_slo": share,
            "itl_within_slo": self.share_within(self.itl, slo.itl_s),
            "e2e_within_slo": self.share_within(self.e2e, slo.e2e_s),
            "meets_slo": share >= slo.objective,
            "ttft_p50_s": _q(done, 0.5),
            "ttft_p95_s": _q(done, 0.95),
            "ttft_p99_s": _q(done, 0.99),
            "replica_seconds": self.replica_seconds,
            "gpu_hours": self.gpu_hours,
            "peak_replicas": int(max((r for _, r, _ in self.replica_log), default=0)),
            "scale_events": len(self.scale_events),
            "reversals": reversals(self.scale_events),
            "peak_queue": self.peak_waiting,
            "prefix_cache_hit_ratio": self.prefix_cache_hit_ratio,
        }

    def series(self, step_s: float = 60.0) -> dict[str, list[float | None]]:
        """Per ``step_s``: arrivals/s, time-mean replicas (all and ready), TTFT p95 of arrivals."""
        steps = max(1, int(math.ceil(self.horizon / step_s)))
        edges = np.arange(steps + 1) * step_s
        load = np.histogram(self.arrival_s, bins=edges)[0] / step_s
        total, ready = _integrate(self.replica_log, edges)
        idx = np.minimum((self.arrival_s // step_s).astype(np.int64), steps - 1)
        p95: list[float | None] = [None] * steps
        if len(idx):
            order = np.argsort(idx, kind="stable")
            bounds = np.searchsorted(idx[order], np.arange(steps + 1))
            # "never got a first token" ranks above every TTFT; a p95 landing on it is unbounded (None)
            vals = np.nan_to_num(self.ttft[order], nan=_NEVER)
            for k in range(steps):
                lo, hi = bounds[k], bounds[k + 1]
                if hi > lo:
                    v = float(np.quantile(vals[lo:hi], 0.95))
                    p95[k] = v if v < _NEVER / 2 else None
        return {
            "t_s": edges[:-1].tolist(),
            "load_rps": load.tolist(),
            "replicas": total.tolist(),
            "ready_replicas": ready.tolist(),
            "ttft_p95_s": p95,
        }


def _integrate(log: list[tuple[float, int, int]], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time-mean of the piecewise-constant replica counts over each [edge_k, edge_k+1)."""
    total = np.zeros(len(edges) - 1)
    ready = np.zeros(len(edges) - 1)
    if not log:
        return total, ready
    width = edges[1] - edges[0]
    points = [*log, (float(edges[-1]), log[-1][1], log[-1][2])]
    for (t0, n_all, n_ready), (t1, _, _) in zip(points, points[1:], strict=False):
        t0, t1 = max(t0, float(edges[0])), min(t1, float(edges[-1]))
        while t1 > t0:
            k = min(int(t0 // width), len(total) - 1)
            seg_end = min(t1, float(edges[k + 1]))
            if seg_end <= t0:
                break
            total[k] += n_all * (seg_end - t0) / width
            ready[k] += n_ready * (seg_end - t0) / width
            t0 = seg_end
    return total, ready
