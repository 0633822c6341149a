"""Model-based sizing: the replicas the observed work needs at the SLO, with burst headroom.

Owns: :class:`DemandSizer` (one target's rate record, modelled capacity and its
online correction) and :class:`SizingAdvisor` (its proposal as each tick's
advice, for policies with ``sizing.enabled``, in the live controller and the
simulator alike). Must not import: any I/O library; time comes in as ``now``.

The proposal, named ``sizing``, is raise-only like every floor; in a policy that
turns it on, the threshold signals (waiting, running, KV usage) are the guards
and panic triggers beside it, not the sizing. Per tick:

* **demand levels** ``D_1 <= ... <= D_10``: the rates the requests of the last
  ``sizing.history_s`` arrived at, as ten levels that each carry a tenth of those
  requests (request-weighted quantiles of the 60 s rate samples), none under the rate
  now (:func:`demand_levels`). The samples first lose their Poisson counting noise
  (:func:`beyond_poisson`), which the fleet model replays itself. This is the burst
  headroom learned from the target's own arrivals: a replica asked for now serves a
  start-up later, so the fleet is sized for the rates the recent requests met, bursts
  included, and because the SLO objective is a share of all requests, each level
  counts by the requests it carries (sizing every request as if it came in the
  busiest minute asks for the objective twice). A steady stream gives ten equal
  levels at its mean; a daily cycle moves them with it.
* **fleet size** ``N``: the smallest fleet of the profile's replicas, behind a
  least-outstanding router, whose mean share over the levels (the share of Poisson
  arrivals at each level within the TTFT SLO) keeps ``min(slo.objective, attainable -
  0.5 points)``, the requests drawn from the size mix of the last ``capacity_window_s``:
  vLLM's prompt- and output-size histograms (``vllm:request_prompt_tokens``,
  ``vllm:request_generation_tokens``, tails included) and the prefix-cache hit ratio
  (:func:`~controlplane.capacity.fleet.fleet_size_at_slo`). A fleet, not one replica
  times N: the same load per replica holds more of the SLO on a bigger fleet when
  prompts are heavy-tailed. ``attainable`` is the share of the mix whose TTFT alone on
  an idle replica is within the SLO: no fleet holds more, so the target never asks for
  what no replica count can give. Without a histogram (a source that does not collect
  it) the mix is the mean size alone.
* **online correction**: the modelled capacity ``D_10 / N`` requests/s per replica,
  lowered (never raised past the model) by
  :class:`~controlplane.capacity.model.CapacityEstimator` when the fleet misses the SLO
  below it (:class:`~controlplane.advisors.planner.CapacityEvidence`, the predictive
  floor's gate). The evidence is the TTFT p95, so it is read only when the target share
  is at least 95 %: when fewer can meet the SLO at any scale, the p95 misses at every
  load and says nothing about capacity.
* the ask: ``N`` while uncorrected; with a correction factor ``f < 1``, the fleet the model
  gives at the demand levels over ``f`` (re-modelled, so pooling still counts: at one or two
  replicas ``ceil(N / f)`` would add a whole replica for a 10 % correction).

No demand observed yet, or a capacity that cannot be modelled, proposes
nothing (the thresholds then size alone); a missing rate is a gap, never zero.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controlplane.advisors.history import RateHistory
from controlplane.advisors.planner import CapacityEvidence
from controlplane.capacity.fleet import SizeHistogram, SizeMix, fleet_size_at_slo
from controlplane.capacity.model import CapacityEstimator
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.decision import Proposal
from controlplane.policy.inputs import SIZING_SOURCE
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["beyond_poisson", "demand_levels", "DemandSizer", "SizeRecord", "SizingAdvisor", "SizingSettings", "weighted_quantile", "SOURCE"]

SOURCE = SIZING_SOURCE


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value v with at least ``q`` of the total weight on values <= v."""
    if not 0 < q <= 1:
        raise ValueError(f"q: must be in (0, 1], got {q!r}")
    keep = np.isfinite(values) & np.isfinite(weights) & (weights >= 0)
    v, w = values[keep], weights[keep]
    if not len(v):
        raise ValueError("values: no finite sample")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    total = float(w.sum())
    if total <= 0:
        return float(v[-1])
    cum = np.cumsum(w)
    k = int(np.searchsorted(cum, q * total - 1e-12 * total, side="left"))
    return float(v[min(k, len(v) - 1)])


def beyond_poisson(rates: np.ndarray, window_s: float) -> np.ndarray:
    """The rate samples with their Poisson counting noise taken out: each moved toward the
    mean so that their spread keeps only the variance beyond what counting requests over
    ``window_s`` gives a steady Poisson stream (mean / window_s). The fleet model already
    replays Poisson arrivals at the demand, so that noise must not be counted twice as burst
    headroom; a steady stream keeps its mean, a bursty one keeps its bursts."""
    m = float(np.mean(rates))
    var = float(np.var(rates))
    if not (var > 0 and m > 0):
        return rates.astype(float)
    keep = math.sqrt(max(0.0, 1.0 - (m / window_s) / var))
    return m + (rates - m) * keep


@dataclass(frozen=True)
class SizingSettings:
    """``capacity_window_s`` 1800: the size mix the fleet is modelled for (half an hour of
    requests: at 1 req/s, 1,800 of them, so the histogram's sampling noise stays under the
    ``mix_tolerance`` that remodels; the demand, not the mix, follows fast changes).
    ``evidence_window_s`` 60: one (load, latency) pair per Prometheus rate window for the
    capacity correction. ``mix_tolerance`` 0.05: the mix the fleet is modelled for is
    replaced when the size histograms move by more than this total-variation distance, not
    for every tick's sampling noise."""

    capacity_window_s: float = 1800.0
    evidence_window_s: float = 60.0
    mix_tolerance: float = 0.05


DEMAND_LEVELS = 10


def demand_levels(smooth: np.ndarray, rates: np.ndarray, now_rate: float,
                  k: int = DEMAND_LEVELS) -> tuple[float, ...]:
    """The rates the recent requests arrived at, as ``k`` levels that each carry an equal share
    of them (the request-weighted quantiles at (i - 0.5) / k of the de-noised rate samples),
    none under the rate now (a ramp in progress is sized at least where it is), each snapped
    up to the 5 % grid; empty when no request arrived."""
    if not (np.isfinite(rates).any() and np.nansum(rates) > 0):
        return () if not now_rate > 0 else (_demand_cell(now_rate),)
    out = []
    for i in range(k):
        level = max(weighted_quantile(smooth, rates, (i + 0.5) / k), now_rate)
        if level > 0:
            out.append(_demand_cell(level))
    return tuple(sorted(out))


def _demand_cell(rate: float) -> float:
    """The demand snapped up to a 5 % geometric grid: the fleet is modelled at or above it."""
    return float(1.05 ** math.ceil(math.log(rate) / math.log(1.05) - 1e-9))


@dataclass
class SizeRecord:
    """One token-count histogram as the recent ticks saw it (cumulative requests/s per bound)."""

    rows: deque[tuple[float, tuple[float, ...], tuple[float, ...]]] = field(default_factory=deque)

    def observe(self, t: float, buckets: tuple[tuple[float, float], ...], keep_s: float) -> None:
        if buckets and (not self.rows or t > self.rows[-1][0]):
            self.rows.append((t, tuple(b for b, _ in buckets), tuple(v for _, v in buckets)))
        while self.rows and self.rows[0][0] < t - keep_s:
            self.rows.popleft()

    def histogram(self, now: float, window_s: float, mean: float) -> SizeHistogram | None:
        """The mean histogram of the window's ticks (those with the newest bounds), with the
        window's mean size (token rate over request rate: the histogram's sum over count)."""
        if not self.rows:
            return None
        bounds = self.rows[-1][1]
        kept = [v for t, b, v in self.rows if b == bounds and t >= now - window_s]
        if not kept:
            return None
        return SizeHistogram.from_cumulative(list(bounds), np.mean(np.asarray(kept), axis=0).tolist(), mean=mean)

    def to_dict(self) -> list[list[Any]]:
        return [[t, ["+Inf" if math.isinf(x) else x for x in b], list(v)] for t, b, v in self.rows]

    @staticmethod
    def from_dict(rows: list[list[Any]]) -> SizeRecord:
        return SizeRecord(deque((float(t), tuple(float(x) for x in b), tuple(float(x) for x in v)) for t, b, v in rows))


def _moved(old: SizeMix, new: SizeMix, tolerance: float) -> bool:
    """Whether the mix moved past ``tolerance``: the cached share, or either histogram by total
    variation over its buckets (a size known only by its mean: by more than ``tolerance`` of it)."""
    if old.cached_share != new.cached_share:
        return True
    for a, b in ((old.prompt, new.prompt), (old.output, new.output)):
        if a.exact and b.exact:
            if abs(b.bounds[0] - a.bounds[0]) > tolerance * a.bounds[0]:
                return True
        elif a.bounds != b.bounds or a.exact != b.exact:
            return True
        elif 0.5 * sum(abs(x - y) for x, y in zip(a.shares, b.shares, strict=True)) > tolerance:
            return True
    return False


@dataclass
class DemandSizer:
    """One target's sizing state (see the module docstring)."""

    profile: PerformanceProfile
    settings: SizingSettings = field(default_factory=SizingSettings)
    history: RateHistory | None = None
    capacity: CapacityEstimator | None = None
    capacity_detail: str = "not modelled yet"
    prompt_sizes: SizeRecord = field(default_factory=SizeRecord)
    output_sizes: SizeRecord = field(default_factory=SizeRecord)
    _modelled: tuple[SizeMix, tuple[float, ...], float, float, int] | None = None  # mix, levels, SLO, objective, max
    _hit_ratio: float = 0.0
    _p95_judges: bool = True
    _evidence: CapacityEvidence = field(init=False)

    def __post_init__(self) -> None:
        self._evidence = CapacityEvidence(self.settings.evidence_window_s)

    def observe(self, now: float, signals: Signals, status: ReplicaStatus, history_s: float) -> None:
        if self.history is None:
            self.history = RateHistory(max_age_s=history_s)
        self.history.max_age_s = float(history_s)  # a changed setting applies from the next sample
        self.history.observe(now, signals)
        self.prompt_sizes.observe(now, signals.prompt_size_buckets, self.settings.capacity_window_s)
        self.output_sizes.observe(now, signals.output_size_buckets, self.settings.capacity_window_s)
        hit = signals.prefix_cache_hit_ratio.value
        if hit is not None and math.isfinite(hit) and 0 <= hit <= 1:
            self._hit_ratio = float(hit)
        self._evidence.feed(self.capacity if self._p95_judges else None, now, signals, status)

    def _model(self, policy: ScalingPolicy, now: float, levels: tuple[float, ...]) -> float | None:
        """The corrected per-replica capacity (at the top demand level) of the fleet modelled for
        the recent size mix at these demand levels; the mix is replaced only when it moves past
        the tolerance; None when it cannot be modelled."""
        assert self.history is not None
        window = self.settings.capacity_window_s
        sizes = self.history.mean_sizes(now, window)
        if sizes is None:
            return None if self.capacity is None else self.capacity.capacity
        mix = SizeMix.of(self.prompt_sizes.histogram(now, window, sizes[0]) or SizeHistogram.point(sizes[0]),
                         self.output_sizes.histogram(now, window, sizes[1]) or SizeHistogram.point(sizes[1]),
                         self._hit_ratio)
        slo = policy.slo
        last = self._modelled
        if last is not None and not _moved(last[0], mix, self.settings.mix_tolerance):
            mix = last[0]  # the same mix, within sampling noise: its shares are already computed
        key = (mix, levels, slo.ttft_p95_s, slo.objective, policy.max_replicas)
        if self.capacity is not None and last == key:
            return self.capacity.capacity
        try:
            fleet = fleet_size_at_slo(self.profile, mix, levels, slo.ttft_p95_s, slo.objective, policy.max_replicas)
        except ValueError as exc:
            self.capacity_detail = f"fleet not modelled: {exc}"
            return None
        n = fleet.replicas if fleet.replicas is not None else policy.max_replicas
        factor = self.capacity.factor if self.capacity is not None else 1.0
        self.capacity = CapacityEstimator(levels[-1] / n, slo.ttft_p95_s, slo.itl_p95_s, max_factor=1.0,
                                          factor=factor)
        self._modelled = key
        self._p95_judges = fleet.target_share >= 0.95
        judged = "" if self._p95_judges else "; the TTFT p95 cannot judge it (target under 95 %)"
        self.capacity_detail = f"{self.profile.name}, {mix.describe()}: {fleet.detail}{judged}"
        return self.capacity.capacity

    def to_dict(self) -> dict[str, Any]:
        """The rate and size record and the correction (the fleet model is rebuilt from the profile)."""
        return {
            "profile": self.profile.name,
            "history": None if self.history is None else self.history.to_dict(),
            "capacity": None if self.capacity is None else self.capacity.to_dict(),
            "capacity_detail": self.capacity_detail,
            "prompt_sizes": self.prompt_sizes.to_dict(),
            "output_sizes": self.output_sizes.to_dict(),
            "hit_ratio": self._hit_ratio,
        }

    @staticmethod
    def from_dict(d: dict[str, Any], profile: PerformanceProfile, settings: SizingSettings) -> DemandSizer:
        if d.get("profile") != profile.name:
            raise ValueError(f"profile: state is for {d.get('profile')!r}, the policy runs {profile.name!r}")
        sizer = DemandSizer(
            profile, settings,
            history=None if d.get("history") is None else RateHistory.from_dict(d["history"]),
            capacity=None if d.get("capacity") is None else CapacityEstimator.from_dict(d["capacity"]),
            capacity_detail=str(d.get("capacity_detail", "not modelled yet")),
            prompt_sizes=SizeRecord.from_dict(d.get("prompt_sizes") or []),
            output_sizes=SizeRecord.from_dict(d.get("output_sizes") or []),
        )
        sizer._hit_ratio = float(d.get("hit_ratio", 0.0))
        return sizer

    def propose(self, policy: ScalingPolicy, now: float) -> Proposal:
        if self.history is None:
            return Proposal(SOURCE, None, "no request rate observed yet")
        t, r = self.history.series("request_rate")
        seen = np.isfinite(r)
        if not seen.any():
            return Proposal(SOURCE, None, "no request rate observed yet")
        rates = r[seen]
        smooth = beyond_poisson(rates, policy.windows.stable_s)
        now_rate = float(smooth[-1])
        levels = demand_levels(smooth, rates, now_rate)
        if not levels:
            return Proposal(SOURCE, 0, "demand 0 req/s: no request in the last history")
        top = levels[-1]
        cap = self._model(policy, now, levels)
        if cap is None or not cap > 0:
            return Proposal(SOURCE, None, self.capacity_detail)
        assert self.capacity is not None
        n, corrected = self._corrected_ask(policy, levels, math.ceil(top / self.capacity.modelled - 1e-9), cap)
        span = float(t[seen][-1] - t[seen][0])
        spread = f"{top:.4g} req/s" if levels[0] == top else (
            f"{levels[0]:.4g} to {top:.4g} req/s in {len(levels)} levels of equal request share")
        return Proposal(
            SOURCE, max(0, n),
            f"demand {spread} (the rates the requests of the last {span:.0f} s arrived at, none under the"
            f" rate now, {now_rate:.4g}); capacity {cap:.4g} req/s per replica at {top:.4g} req/s"
            f" ({self.capacity_detail}; {corrected}) -> {max(0, n)}",
        )

    def _corrected_ask(self, policy: ScalingPolicy, levels: tuple[float, ...], modelled: int,
                       cap: float) -> tuple[int, str]:
        """The fleet for the demand as the correction reads it: a fleet that sustained only
        ``factor`` of its modelled load is asked for the fleet the model gives at the demand over
        ``factor`` (re-modelled, so pooling still counts), not ``modelled / factor`` replicas."""
        factor = self.capacity.factor if self.capacity is not None else 1.0
        if factor >= 1 - 1e-9 or self._modelled is None:
            return modelled, f"x{factor:.3f} observed"
        slo = policy.slo
        heavier = tuple(_demand_cell(x / factor) for x in levels)
        try:
            fleet = fleet_size_at_slo(self.profile, self._modelled[0], heavier, slo.ttft_p95_s, slo.objective,
                                      policy.max_replicas)
        except ValueError:
            return math.ceil(levels[-1] / cap - 1e-9), f"x{factor:.3f} observed, applied per replica"
        n = fleet.replicas if fleet.replicas is not None else policy.max_replicas
        return max(n, modelled), f"x{factor:.3f} observed: re-modelled at the demand / {factor:.3f}, {n} replicas"


@dataclass
class SizingAdvisor:
    """Each tick: record the target's rates and propose the model-based size (policies with
    ``sizing.enabled`` only). One :class:`DemandSizer` per target; ``profile_for`` names the
    performance profile a policy's replicas run."""

    profile_for: Callable[[ScalingPolicy], PerformanceProfile]
    settings: SizingSettings = field(default_factory=SizingSettings)
    sizers: dict[str, DemandSizer] = field(default_factory=dict)
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)  # restored, not yet claimed by a policy

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        if not policy.sizing.enabled:
            return Advice()
        sizer = self.sizers.get(policy.target_key)
        if sizer is None:
            sizer = self.sizers[policy.target_key] = self._resume(policy)
        sizer.observe(now, signals, status, policy.sizing.history_s)
        return Advice(floors=(sizer.propose(policy, now),))

    def _resume(self, policy: ScalingPolicy) -> DemandSizer:
        """The sizer saved for this target before a restart, or a fresh one; a saved state for
        another profile, or one that does not parse, is dropped (the rates are relearned)."""
        profile = self.profile_for(policy)
        d = self.saved.pop(policy.target_key, None)
        if d is not None:
            try:
                return DemandSizer.from_dict(d, profile, self.settings)
            except (ValueError, KeyError, TypeError, IndexError):
                pass
        return DemandSizer(profile, self.settings)

    # -- state across restarts -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Every target's sizer (and any restored one no policy has claimed yet); JSON-safe."""
        return {"version": 1, "targets": {**self.saved, **{k: s.to_dict() for k, s in self.sizers.items()}}}

    def restore(self, state: dict[str, Any]) -> None:
        """Keep the saved sizers; each is rebuilt when its policy is next seen."""
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError(f"state.version: expected 1, got {state.get('version') if isinstance(state, dict) else state!r}")
        targets = state.get("targets") or {}
        if not isinstance(targets, dict):
            raise ValueError("state.targets: expected a mapping")
        self.saved = {str(k): v for k, v in targets.items() if isinstance(v, dict)}
