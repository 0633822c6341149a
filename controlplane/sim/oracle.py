"""The oracle: a lower bound on the replica-seconds any autoscaler needs to meet the TTFT SLO.

Owns: :func:`oracle_bound`. Must not import: any I/O library.

With perfect knowledge of the future, per bucket of ``bucket_s`` (default 60 s):

* every request that meets the TTFT SLO has its whole prefill done within
  ``ttft_slo_s`` of arriving, so the prefill work (see
  :mod:`controlplane.sim.calibrate`) of the requests arriving in bucket b is
  done by replicas alive in buckets b and b+1 (``ttft_slo_s <= bucket_s``):
  ``(n_b + n_{b+1}) * bucket_s >= W_b``. The ``1 - objective`` share of
  requests allowed to miss the SLO is taken out first, the most expensive
  ones (the cheapest way to miss);
* all work, prefill and decode, is done by some replica before the run ends:
  ``sum n_b * bucket_s >= total work``;
* never fewer than ``min_replicas``; a replica added at bucket b paid its
  cold start before it (``startup_s`` replica-seconds each), replicas present
  at t=0 did not.

The policy's replica count may change within a bucket, so the bound works
with each bucket's time-mean of ready replicas ``y_b`` (a real number), and a
linear programme (HiGHS via scipy) minimises
``sum y_b * w_b + startup_s * sum max(0, y_b - y_{b-1})`` under all three
constraints, ``w_b`` being the part of the bucket before the last arrival (no
run ends earlier). Every simulated policy pays at least this: work needs
replica time, every rise in ready replicas was paid for by a start-up, and
SLO-meeting requests cannot wait longer than the SLO. The bound is optimistic
(batches always full, no queueing), so real policies sit above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controlplane.capacity.profile import PerformanceProfile
from controlplane.sim.calibrate import decode_work, prefill_work
from controlplane.traces.model import Trace

__all__ = ["OracleBound", "oracle_bound"]


@dataclass(frozen=True)
class OracleBound:
    replica_seconds: float
    bucket_s: float
    plan: np.ndarray  # mean ready replicas per bucket (the LP optimum), one extra bucket after the trace
    total_work_s: float

    @property
    def gpu_hours(self) -> float:
        return self.replica_seconds / 3600.0

    def summary(self) -> dict[str, object]:
        return {
            "policy": "oracle",
            "replica_seconds": self.replica_seconds,
            "gpu_hours": self.gpu_hours,
            "peak_replicas": float(self.plan.max()) if len(self.plan) else 0.0,
            "bound": "lower bound: latency figures do not apply",
        }

    def series(self, step_s: float) -> list[float]:
        """Planned replicas per ``step_s`` (a multiple or divisor of the bucket is exact)."""
        t = (np.arange(int(math.ceil(len(self.plan) * self.bucket_s / step_s))) + 0.5) * step_s
        return self.plan[np.minimum((t // self.bucket_s).astype(np.int64), len(self.plan) - 1)].tolist()


def oracle_bound(
    trace: Trace,
    profile: PerformanceProfile,
    *,
    ttft_slo_s: float,
    objective: float = 0.99,
    startup_s: float | None = None,
    min_replicas: int = 1,
    bucket_s: float = 60.0,
) -> OracleBound:
    if ttft_slo_s > bucket_s:
        raise ValueError(f"bucket_s: must be >= ttft_slo_s ({ttft_slo_s:g} s)")
    if min_replicas < 0:
        raise ValueError("min_replicas: must be >= 0")
    start = profile.startup_s if startup_s is None else startup_s
    pre = prefill_work(profile, trace.prompt_tokens)
    total_work = float(pre.sum() + decode_work(profile, trace.output_tokens).sum())
    duration = trace.duration_s
    n_buckets = int(duration // bucket_s) + 2
    work: np.ndarray = np.zeros(n_buckets)
    if len(trace):
        allowed_misses = int(math.floor((1.0 - objective) * len(trace) + 1e-9))
        keep = np.ones(len(trace), dtype=bool)
        if allowed_misses:
            keep[np.argsort(pre, kind="stable")[-allowed_misses:]] = False
        idx = (trace.arrival_s // bucket_s).astype(np.int64)
        work = np.bincount(idx[keep], weights=pre[keep], minlength=n_buckets)[:n_buckets]
    edges = np.arange(n_buckets + 1) * bucket_s
    widths = np.clip(np.minimum(edges[1:], duration) - edges[:-1], 0.0, None)
    plan = _solve(work, widths, bucket_s, float(min_replicas), start, total_work)
    replica_seconds = float(plan @ widths + start * np.maximum(0.0, np.diff(plan)).sum())
    return OracleBound(replica_seconds, bucket_s, plan, total_work)


def _solve(work: np.ndarray, widths: np.ndarray, bucket_s: float, floor: float, start: float, total: float) -> np.ndarray:
    """The LP of the module docstring; returns the ready-replica means y_b."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    k = len(work)
    rows_pair = np.repeat(np.arange(k - 1), 2)
    cols_pair = np.stack([np.arange(k - 1), np.arange(1, k)], axis=1).ravel()
    pair = coo_matrix((np.full(2 * (k - 1), -bucket_s), (rows_pair, cols_pair)), shape=(k - 1, 2 * k - 1))
    # rises: y_b - y_{b-1} - u_b <= 0, u_b at column k + b - 1
    b = np.arange(1, k)
    rise = coo_matrix(
        (
            np.concatenate([np.ones(k - 1), -np.ones(k - 1), -np.ones(k - 1)]),
            (np.tile(np.arange(k - 1), 3), np.concatenate([b, b - 1, k + b - 1])),
        ),
        shape=(k - 1, 2 * k - 1),
    )
    tot = coo_matrix((np.full(k, -bucket_s), (np.zeros(k, dtype=np.int64), np.arange(k))), shape=(1, 2 * k - 1))
    a_ub = vstack([pair, rise, tot]).tocsr()
    b_ub = np.concatenate([-work[:-1], np.zeros(k - 1), [-total]])
    cost = np.concatenate([widths, np.full(k - 1, start)])
    bounds = [(floor, None)] * k + [(0.0, None)] * (k - 1)
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise ValueError(f"oracle: the linear programme did not solve ({res.message})")
    return np.asarray(res.x[:k])
