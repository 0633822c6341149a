"""The hindsight reference: the cheapest replica schedule found knowing the future arrivals.

Owns: :class:`ScheduleAutoscaler` (replays a fixed per-bucket schedule of ready
replicas, each asked for a cold start ahead), :func:`hindsight_schedule` (the
search) and :class:`HindsightResult`. Must not import: any I/O library; the
search drives the simulator only through :func:`~controlplane.sim.replay.simulate`
and the :class:`~controlplane.sim.autoscaler.Autoscaler` protocol.

Unlike the LP bound of :mod:`controlplane.sim.oracle`, which assumes full
batches and no queueing, every figure here comes from a replay in the same
simulator (engine, router, cold starts paid in GPU time), so the schedule is
achievable by construction: it is what an autoscaler that knew the arrivals in
advance could have done. What it has to keep is
``target = min(objective, attainable_share - 0.005)`` of requests within the
TTFT SLO (:mod:`controlplane.sim.attainable`: no fleet serves the rest in time).

The search, over ``n_b`` = ready replicas wanted in bucket ``b`` (``bucket_s``,
default 60 s):

1. **Seed** from the engine model: per bucket, its arrival rate over the
   profile's saturated rate for the bucket's mean request
   (:meth:`~controlplane.capacity.profile.PerformanceProfile.max_requests_per_s`),
   rounded up; never below ``min_replicas``.
2. **Raise**: replay; while fewer than ``target`` of requests meet the SLO,
   add one replica to every bucket in which an attainable request missed it.
3. **Lower** greedily while the share holds. Each round measures what taking
   one replica out of each bucket costs in misses: two probe replays, one with
   every even bucket lowered, one with every odd one (a bucket's extra misses
   are counted in it and the next bucket, where its backlog spills). The
   buckets are then taken in order of fewest extra misses, as many as the
   remaining slack of misses pays for, lowered together and replayed; if that
   replay misses the target the set is halved until it holds, and a single
   bucket that cannot be lowered is frozen. When the estimates allow no more,
   the remaining buckets are tried one at a time. The round repeats until no
   bucket can be lowered or ``max_simulations`` replays were run.

The result is the cheapest (replica-seconds) replay that met the target. It is
deterministic: replays are seeded and ties are broken by bucket index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from controlplane.protocols import ReplicaStatus
from controlplane.signals import Signals
from controlplane.sim.attainable import attainable_mask
from controlplane.sim.replay import SimConfig, simulate
from controlplane.sim.results import RunResult, SloTargets
from controlplane.traces.model import Trace

__all__ = ["ScheduleAutoscaler", "HindsightResult", "hindsight_schedule", "reference_share", "seed_counts"]

ATTAINABLE_MARGIN = 0.005  # the reference keeps attainable - 0.5 points where that is below the objective


def reference_share(objective: float, attainable: float) -> float:
    """The share of requests within the SLO a reference schedule must keep."""
    return min(objective, attainable - ATTAINABLE_MARGIN)


@dataclass
class ScheduleAutoscaler:
    """Replays ``counts``: ``counts[b]`` ready replicas during ``[b * bucket_s, (b + 1) * bucket_s)``
    (the last count holds after the schedule ends).

    A replica is asked for ``lead_s`` (the cold start) before the bucket that needs
    it begins, and given back when the first bucket that does not need it begins:
    at each tick it wants the most any bucket overlapping ``[t, t + lead_s + sync)``
    wants, ``sync`` being its tick period. Start the replay with
    ``desired_at(0)`` replicas ready.
    """

    counts: Sequence[int]
    bucket_s: float
    lead_s: float
    epoch: float = 0.0
    name: str = "hindsight"
    sync_period_s: float = 5.0
    observes: str = "direct"
    _counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not len(self.counts):
            raise ValueError("counts: the schedule needs at least one bucket")
        if not self.bucket_s > 0 or not self.sync_period_s > 0:
            raise ValueError("bucket_s: must be > 0 (and sync_period_s > 0)")
        if self.lead_s < 0:
            raise ValueError("lead_s: must be >= 0")
        self._counts = np.asarray(self.counts, dtype=np.int64)
        if np.any(self._counts < 0):
            raise ValueError("counts: replica counts must be >= 0")

    def desired_at(self, t: float) -> int:
        """Replicas wanted at ``t`` seconds from the trace start."""
        last = len(self._counts) - 1
        lo = min(int(t // self.bucket_s), last)
        hi = min(math.ceil((t + self.lead_s + self.sync_period_s) / self.bucket_s) - 1, last)
        return int(self._counts[lo : max(lo, hi) + 1].max())

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        return self.desired_at(now - self.epoch)


@dataclass(frozen=True)
class HindsightResult:
    run: RunResult  # the replay of the schedule, named "hindsight"
    counts: tuple[int, ...]  # replicas held (ready or starting) at each bucket's start
    bucket_s: float
    target_share: float
    attainable_share: float
    share: float  # within the TTFT SLO in ``run``
    met: bool  # share >= target_share
    simulations: int  # replays the search ran

    def summary_extra(self) -> dict[str, object]:
        return {
            "target_share": self.target_share,
            "met_target": self.met,
            "simulations": self.simulations,
            "bucket_s": self.bucket_s,
            "schedule": list(self.counts),
        }


def seed_counts(trace: Trace, config: SimConfig, n_buckets: int, bucket_s: float, floor: int) -> np.ndarray:
    """Step 1 of the search: per bucket, arrivals/s over the saturated rate of its mean request."""
    profile = config.profile
    counts = np.full(n_buckets, floor, dtype=np.int64)
    if not len(trace):
        return counts
    idx = (trace.arrival_s // bucket_s).astype(np.int64)
    n = np.bincount(idx, minlength=n_buckets)
    p = np.bincount(idx, weights=trace.prompt_tokens, minlength=n_buckets)
    o = np.bincount(idx, weights=trace.output_tokens, minlength=n_buckets)
    for b in np.flatnonzero(n).tolist():
        rate = profile.max_requests_per_s(p[b] / n[b], o[b] / n[b])
        counts[b] = max(floor, math.ceil(n[b] / bucket_s / rate - 1e-9))
    return np.minimum(counts, config.max_replicas)


class _Search:
    def __init__(self, trace: Trace, config: SimConfig, slo: SloTargets, bucket_s: float, limit: int) -> None:
        self.trace, self.config, self.slo, self.bucket_s, self.limit = trace, config, slo, bucket_s, limit
        self.lead = config.cold_start.bound_s(config.profile)
        self.idx = (trace.arrival_s // bucket_s).astype(np.int64)
        self.k = int(trace.duration_s // bucket_s) + 1
        self.sims = 0
        self.best: tuple[float, np.ndarray, RunResult] | None = None

    def run(self, counts: np.ndarray) -> tuple[RunResult, np.ndarray]:
        """Replay ``counts``; returns the run and which requests met the TTFT SLO."""
        scaler = ScheduleAutoscaler(counts.tolist(), self.bucket_s, self.lead, epoch=self.config.epoch)
        cfg = replace(self.config, initial_replicas=scaler.desired_at(0.0))
        result = simulate(self.trace, scaler, cfg)
        self.sims += 1
        return result, np.nan_to_num(result.ttft, nan=math.inf) <= self.slo.ttft_s

    def note(self, counts: np.ndarray, result: RunResult) -> None:
        cost = result.replica_seconds
        if self.best is None or cost < self.best[0]:
            self.best = (cost, counts.copy(), result)

    def misses(self, ok: np.ndarray) -> np.ndarray:
        return np.bincount(self.idx[~ok], minlength=self.k)[: self.k]

    @property
    def exhausted(self) -> bool:
        return self.sims >= self.limit


def hindsight_schedule(
    trace: Trace,
    config: SimConfig,
    slo: SloTargets,
    *,
    min_replicas: int = 1,
    bucket_s: float = 60.0,
    max_simulations: int = 300,
) -> HindsightResult:
    """Search the cheapest per-bucket schedule that keeps the reference share (module docstring)."""
    if min_replicas < 0:
        raise ValueError("min_replicas: must be >= 0")
    if not bucket_s > 0:
        raise ValueError("bucket_s: must be > 0")
    if max_simulations < 1:
        raise ValueError("max_simulations: must be >= 1")
    floor = min(min_replicas, config.max_replicas)
    attainable = attainable_mask(trace, config.profile, slo.ttft_s)
    att_share = float(attainable.mean()) if len(attainable) else 1.0
    target = reference_share(slo.objective, att_share)
    need = math.ceil(target * len(trace) - 1e-9)
    s = _Search(trace, config, slo, bucket_s, max_simulations)
    counts = seed_counts(trace, config, s.k, bucket_s, floor)

    result, ok = s.run(counts)
    while int(ok.sum()) < need and not s.exhausted:
        grow = (np.bincount(s.idx[attainable & ~ok], minlength=s.k)[: s.k] > 0) & (counts < config.max_replicas)
        if not grow.any():
            break
        counts = counts + grow
        result, ok = s.run(counts)
    if int(ok.sum()) >= need:
        s.note(counts, result)
        counts = _lower(s, counts, ok, need, floor)

    if s.best is not None:
        _, counts, result = s.best
    share = result.share_within(result.ttft, slo.ttft_s)
    # Reported as what the fleet holds at each bucket start, those starting for later buckets included.
    scaler = ScheduleAutoscaler(counts.tolist(), bucket_s, s.lead)
    held = tuple(scaler.desired_at(b * bucket_s) for b in range(s.k))
    return HindsightResult(result, held, bucket_s, target, att_share, share, share >= target - 1e-12, s.sims)


def _lower(s: _Search, counts: np.ndarray, ok: np.ndarray, need: int, floor: int) -> np.ndarray:
    """Step 3 of the search; returns the lowest schedule that kept ``need`` requests within the SLO."""
    frozen = np.zeros(s.k, dtype=bool)
    while not s.exhausted:
        cand = np.flatnonzero((counts > floor) & ~frozen)
        if not len(cand):
            break
        base_miss = s.misses(ok)
        slack = int(ok.sum()) - need
        extra = np.full(s.k, np.inf)
        for parity in (0, 1):
            sel = cand[cand % 2 == parity]
            if not len(sel) or s.exhausted:
                continue
            probe = counts.copy()
            probe[sel] -= 1
            _, probe_ok = s.run(probe)
            d = np.append(s.misses(probe_ok) - base_miss, 0)
            extra[sel] = np.maximum(0, d[sel]) + np.maximum(0, d[sel + 1])
        ranked = cand[np.argsort(extra[cand], kind="stable")]
        order = ranked[extra[ranked] <= slack]
        lowered = False
        limit = len(order)  # halved after a failed set, reset after a success
        while len(order) and not s.exhausted:
            take = min(limit, max(1, int(np.searchsorted(np.cumsum(extra[order]), slack, side="right"))))
            trial = counts.copy()
            trial[order[:take]] -= 1
            t_result, t_ok = s.run(trial)
            if int(t_ok.sum()) >= need:
                counts, ok = trial, t_ok
                s.note(counts, t_result)
                slack = int(ok.sum()) - need
                order = order[take:]
                order = order[extra[order] <= slack]
                lowered = True
                limit = len(order)
            elif take > 1:
                limit = take // 2
            else:
                frozen[order[0]] = True
                order = order[1:]
                limit = len(order)
        if lowered:
            continue
        # The estimates allow nothing more: try the rest one bucket at a time, fewest misses first.
        for b in ranked[~frozen[ranked]].tolist():
            if s.exhausted:
                break
            trial = counts.copy()
            trial[b] -= 1
            t_result, t_ok = s.run(trial)
            if int(t_ok.sum()) >= need:
                counts, ok = trial, t_ok
                s.note(counts, t_result)
                lowered = True
            else:
                frozen[b] = True
        if not lowered:
            break
    return counts
