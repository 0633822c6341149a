"""Model-based sizing: the replicas the observed work needs at the SLO, with burst headroom.

Owns: :class:`DemandSizer` (one target's rate record, modelled capacity and its
online correction) and :class:`SizingAdvisor` (its proposal as each tick's
advice, for policies with ``sizing.enabled``, in the live controller and the
simulator alike). Must not import: any I/O library; time comes in as ``now``.

The proposal, named ``sizing``, is raise-only like every floor; in a policy that
turns it on, the threshold signals (waiting, running, KV usage) are the guards
and panic triggers beside it, not the sizing. Per tick:

* **demand** ``D``: the request rate below which ``slo.objective`` of the
  requests of the last ``sizing.history_s`` arrived (a quantile of the rate
  samples weighted by the rate itself, so a minute at twice the rate counts
  twice), and never less than the rate now. This is the burst headroom learned
  from the target's own arrivals: a replica asked for now serves a start-up
  later, so the fleet is held at the level the recent bursts reached rather
  than the mean. A flat Poisson stream gives ``D`` close to its mean (the
  within-minute variability is in the capacity figure, below); a trace with
  minute-scale bursts gives the burst level; a daily cycle moves ``D`` with it.
* **capacity** ``c``: requests/s one replica sustains with the TTFT and ITL p95
  within the SLO, for the mean request size of the last
  ``capacity_window_s`` (:func:`~controlplane.advisors.planner.model_capacity`, as the
  predictive floor models it; a prompt's cached share, from the prefix-cache hit ratio, is
  not prefilled), times the online correction of
  :class:`~controlplane.capacity.model.CapacityEstimator` fed with what the
  fleet sustained (:class:`~controlplane.advisors.planner.CapacityEvidence`, the same
  gate as the predictive floor's).
* the ask: ``ceil(D / c)``.

No demand observed yet, or a capacity that cannot be modelled, proposes
nothing (the thresholds then size alone); a missing rate is a gap, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controlplane.advisors.history import RateHistory
from controlplane.advisors.planner import CapacityEvidence, model_capacity, workload_key
from controlplane.capacity.model import CapacityEstimator
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.decision import Proposal
from controlplane.policy.inputs import SIZING_SOURCE
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["DemandSizer", "SizingAdvisor", "SizingSettings", "weighted_quantile", "SOURCE"]

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


@dataclass(frozen=True)
class SizingSettings:
    """``capacity_window_s`` 600: the mean request size the capacity is modelled for (ten
    minutes follows a change of mix within a start-up or two). ``evidence_window_s`` 60: one
    (load, latency) pair per Prometheus rate window for the capacity correction."""

    capacity_window_s: float = 600.0
    evidence_window_s: float = 60.0


@dataclass
class DemandSizer:
    """One target's sizing state (see the module docstring)."""

    profile: PerformanceProfile
    settings: SizingSettings = field(default_factory=SizingSettings)
    history: RateHistory | None = None
    capacity: CapacityEstimator | None = None
    capacity_detail: str = "not modelled yet"
    _workload: tuple[float, float] | None = None
    _hit_ratio: float = 0.0
    _evidence: CapacityEvidence = field(init=False)

    def __post_init__(self) -> None:
        self._evidence = CapacityEvidence(self.settings.evidence_window_s)

    def observe(self, now: float, signals: Signals, status: ReplicaStatus, history_s: float) -> None:
        if self.history is None:
            self.history = RateHistory(max_age_s=history_s)
        self.history.max_age_s = float(history_s)  # a changed setting applies from the next sample
        self.history.observe(now, signals)
        hit = signals.prefix_cache_hit_ratio.value
        if hit is not None and math.isfinite(hit) and 0 <= hit <= 1:
            self._hit_ratio = float(hit)
        self._evidence.feed(self.capacity, now, signals, status)

    def _model(self, policy: ScalingPolicy, now: float) -> float | None:
        """The corrected capacity for the recent mean sizes, remodelled when they move to
        another cell of :func:`workload_key`'s grid; None when it cannot be modelled."""
        assert self.history is not None
        sizes = self.history.mean_sizes(now, self.settings.capacity_window_s)
        if sizes is None:
            return None if self.capacity is None else self.capacity.capacity
        prompt = max(1.0, sizes[0] * (1.0 - self._hit_ratio))  # the cached share is not prefilled
        w = workload_key(prompt, sizes[1])
        key = (w.prompt_tokens, w.output_tokens)
        if key != self._workload or self.capacity is None:
            modelled, self.capacity_detail = model_capacity(self.profile, policy, prompt, sizes[1], self.capacity)
            if modelled is None:
                return None
            self.capacity, self._workload = modelled, key
        return self.capacity.capacity

    def to_dict(self) -> dict[str, Any]:
        """The rate record and the corrected capacity (the model is rebuilt from the profile)."""
        return {
            "profile": self.profile.name,
            "history": None if self.history is None else self.history.to_dict(),
            "capacity": None if self.capacity is None else self.capacity.to_dict(),
            "capacity_detail": self.capacity_detail,
            "workload": None if self._workload is None else list(self._workload),
            "hit_ratio": self._hit_ratio,
        }

    @staticmethod
    def from_dict(d: dict[str, Any], profile: PerformanceProfile, settings: SizingSettings) -> DemandSizer:
        if d.get("profile") != profile.name:
            raise ValueError(f"profile: state is for {d.get('profile')!r}, the policy runs {profile.name!r}")
        w = d.get("workload")
        sizer = DemandSizer(
            profile, settings,
            history=None if d.get("history") is None else RateHistory.from_dict(d["history"]),
            capacity=None if d.get("capacity") is None else CapacityEstimator.from_dict(d["capacity"]),
            capacity_detail=str(d.get("capacity_detail", "not modelled yet")),
        )
        sizer._workload = None if w is None else (float(w[0]), float(w[1]))
        sizer._hit_ratio = float(d.get("hit_ratio", 0.0))
        return sizer

    def propose(self, policy: ScalingPolicy, now: float) -> Proposal:
        if self.history is None:
            return Proposal(SOURCE, None, "no request rate observed yet")
        t, r = self.history.series("request_rate")
        seen = np.isfinite(r)
        if not seen.any():
            return Proposal(SOURCE, None, "no request rate observed yet")
        cap = self._model(policy, now)
        if cap is None or not cap > 0:
            return Proposal(SOURCE, None, self.capacity_detail)
        q = policy.slo.objective
        now_rate = float(r[seen][-1])
        level = weighted_quantile(r[seen], r[seen], q)
        demand = max(level, now_rate)
        n = max(0, math.ceil(demand / cap - 1e-9))
        factor = self.capacity.factor if self.capacity is not None else 1.0
        span = float(t[seen][-1] - t[seen][0])
        return Proposal(
            SOURCE, n,
            f"demand {demand:.4g} req/s (the rate under which {q:.0%} of the last {span:.0f} s of requests"
            f" arrived: {level:.4g}; now {now_rate:.4g}) / capacity {cap:.4g} req/s per replica"
            f" ({self.capacity_detail}, x{factor:.3f} observed) -> {n}",
        )


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
