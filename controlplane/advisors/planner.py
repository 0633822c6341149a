"""Predictive scaling for one target: observe, fit on the past, propose a floor.

Owns: :class:`PlannerSettings` and :class:`PredictivePlanner`, the state the
live :class:`~controlplane.advisors.forecast.ForecastAdvisor` and the
simulator's predictive policy (:mod:`controlplane.sim.predictive`) share, so
both run the same arithmetic: :class:`~controlplane.forecast.predictive.PredictiveFloor`
for the floor, :func:`~controlplane.capacity.model.capacity_at_slo` corrected
by :class:`~controlplane.capacity.model.CapacityEstimator` for the capacity,
:class:`~controlplane.advisors.startup.StartupWatch` for the lead time.
Must not import: any I/O library; it reads no clock (``now`` and an optional
``monotonic`` for timing a fit are arguments).

Per tick, :meth:`PredictivePlanner.observe` records the rates (gaps stay
gaps), the start-ups completed, the demand that arrived (which scores past
forecasts), one (per-replica load, TTFT p95) pair for the capacity
correction, and advances the fitted forecaster over the new samples with
``updated`` (no re-estimation). :meth:`fit` -- a scheduled job, off the tick
path -- fits a *fresh* forecaster on the recorded history only (the past:
nothing after ``now`` exists in it), recomputes the modelled capacity for the
recent mean request size, and swaps both in. :meth:`propose` returns the
``Proposal("predictive", ...)`` and the forecast record for the decision;
:meth:`advise` is observe and propose as one tick's advice.

Concurrency: the tick and the fit job may run at once in the live
controller. One lock guards the history, the floor's trackers and the swap;
the tick holds it for its cheap update, the fit job only to copy the history
and to swap in (with a catch-up over samples that arrived meanwhile) -- the
fitting itself runs outside it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from controlplane.advisors.history import RateHistory
from controlplane.advisors.startup import StartupWatch
from controlplane.capacity.model import CapacityEstimator, Workload, capacity_at_slo
from controlplane.capacity.profile import PerformanceProfile
from controlplane.forecast.base import QuantileForecaster
from controlplane.forecast.budget import FitBudget
from controlplane.forecast.naive import DAY_S, WEEK_S, LastValue, SeasonalNaive
from controlplane.forecast.predictive import PredictiveFloor
from controlplane.forecast.registry import from_state
from controlplane.forecast.reverting import MeanReverting
from controlplane.forecast.selector import AutoForecaster, default_candidates
from controlplane.forecast.slot import ForecastSlot, fit_fresh
from controlplane.policy.decision import Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice, ReplicaStatus
from controlplane.signals import Signals

__all__ = ["PlannerSettings", "PredictivePlanner", "CapacityEvidence", "forecast_advice", "model_capacity",
           "quick_candidates", "workload_key"]

UNIT = "requests/s"


@dataclass(frozen=True)
class PlannerSettings:
    """How the planner forecasts. Units are seconds.

    ``step_s`` 60: the forecast grid; a minute resolves a ramp well inside a
    replica's start-up and keeps a day at 1,440 slots. ``max_horizon_s`` 900:
    bands are calibrated out to 15 min, well past any start-up lead.
    ``history_s`` 3 days: enough for the daily seasonal candidates to be
    estimated and backtested. ``min_history_s`` 30 min before a first fit:
    the selector needs 15 slots of backtest plus an estimation head.
    ``capacity_window_s`` 1 h: the mean request size the capacity is
    modelled for. ``evidence_window_s`` 60: one (load, latency) pair per
    rate window for the capacity correction (the Prometheus source's window).
    ``quick`` True (the default) fits only the cheap candidates (last
    value, daily seasonal naive, mean reversion, damped Holt: about 1 s on
    3 days of minutes). Robust STL with a 1,440-slot daily season took 17.5 s
    on this kind of machine, far past its cost hint, and a budget is only
    checked between candidates; on ServeGen m-large the seasonal smoothing
    models gained little over these (docs/forecasting.md). False fits every
    candidate the budget lets start.
    """

    step_s: float = 60.0
    max_horizon_s: float = 900.0
    history_s: float = 3 * DAY_S
    min_history_s: float = 1800.0
    capacity_window_s: float = 3600.0
    evidence_window_s: float = 60.0
    quick: bool = True

    def __post_init__(self) -> None:
        for name in ("step_s", "max_horizon_s", "history_s", "min_history_s", "capacity_window_s",
                     "evidence_window_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")


def quick_candidates(max_horizon_s: float) -> Callable[[], list[Any]]:
    """The cheap candidates, in the selector's cheapest-first order."""
    from controlplane.forecast.ets import HoltWinters

    def make() -> list[Any]:
        h = max_horizon_s
        return [LastValue(max_horizon_s=h), SeasonalNaive(season_s=DAY_S, max_horizon_s=h),
                MeanReverting(max_horizon_s=h), HoltWinters(season_s=None, max_horizon_s=h)]

    return make


def workload_key(prompt: float, output: float) -> Workload:
    """Sizes rounded to a 5 % geometric grid: capacity barely moves within it, and
    the capacity model's cache then serves a drifting mean without a new bisection."""

    def snap(v: float) -> float:
        return float(round(1.05 ** round(math.log(max(1.0, v)) / math.log(1.05))))

    return Workload(max(1.0, snap(prompt)), max(1.0, snap(output)))


def model_capacity(profile: PerformanceProfile, policy: ScalingPolicy, prompt: float, output: float,
                   current: CapacityEstimator | None) -> tuple[CapacityEstimator | None, str]:
    """The capacity at the policy's SLO for requests of these mean sizes (clipped to the
    profile's context, snapped by :func:`workload_key`), keeping ``current``'s online factor;
    None and the reason when it cannot be modelled. Returns the estimator and its detail."""
    limit = profile.max_model_len
    o = min(output, limit / 2)
    p = min(prompt, limit - o - 1)
    w = workload_key(p, o)
    try:
        rc = capacity_at_slo(profile, w, policy.slo.ttft_p95_s, policy.slo.itl_p95_s)
    except ValueError as exc:
        return None, f"capacity not modelled: {exc}"
    if not rc.requests_per_s > 0:
        return None, f"capacity unreachable for prompt {w.prompt_tokens:g}, output {w.output_tokens:g}"
    factor = current.factor if current is not None else 1.0
    estimator = CapacityEstimator(rc.requests_per_s, policy.slo.ttft_p95_s, policy.slo.itl_p95_s, factor=factor)
    return estimator, (f"{profile.name}, prompt {w.prompt_tokens:g} / output {w.output_tokens:g}"
                       f" tokens: modelled {rc.requests_per_s:.4g} req/s ({rc.binding}) x factor {factor:.3f}")


@dataclass
class CapacityEvidence:
    """Feeds a :class:`CapacityEstimator` once per ``window_s`` (the source's rate window:
    overlapping windows would count one burst several times), and a missed SLO only when the
    window before missed too. A single window over the SLO is a burst, which the reactive
    signals answer; the capacity is about sustained load."""

    window_s: float
    at: float | None = None
    missed_before: bool = False

    def feed(self, cap: CapacityEstimator | None, now: float, signals: Signals, status: ReplicaStatus) -> None:
        rate = signals.request_rate
        if cap is None or status.ready <= 0 or rate.value is None:
            return
        if self.at is not None and now - self.at < self.window_s:
            return
        ttft, itl = signals.ttft_p95.value, signals.itl_p95.value
        if ttft is None:
            return
        missed = ttft > cap.ttft_slo_s or (itl is not None and cap.itl_slo_s is not None and itl > cap.itl_slo_s)
        sustained = self.missed_before and now - (self.at or now) <= 2 * self.window_s
        self.at, self.missed_before = now, missed
        if missed and not sustained:
            return
        cap.observe(rate.value / status.ready, ttft, itl)


def forecast_advice(proposal: Proposal, record: dict[str, Any] | None) -> Advice:
    """The floor and the forecast record as a tick's advice; before a fit, the record says why there is no floor."""
    shown = record if record is not None else {"series": "request_rate", "floor": None, "dropped": proposal.detail}
    return Advice(floors=(proposal,), forecast=shown)


class PredictivePlanner:
    """The predictive floor's state for one target (see the module docstring)."""

    def __init__(self, profile: PerformanceProfile, settings: PlannerSettings | None = None, *,
                 history: RateHistory | None = None, slot: ForecastSlot | None = None,
                 floor: PredictiveFloor | None = None, capacity: CapacityEstimator | None = None,
                 watch: StartupWatch | None = None, capacity_detail: str = "") -> None:
        self.profile = profile
        self.settings = settings or PlannerSettings()
        self.history = history or RateHistory(max_age_s=self.settings.history_s)
        self.slot = slot or ForecastSlot()
        self.floor = floor or PredictiveFloor()
        self.capacity = capacity
        self.capacity_detail = capacity_detail or "not modelled yet"
        self.watch = watch or StartupWatch()
        self.last_fit: dict[str, Any] = {}
        self.evidence = CapacityEvidence(self.settings.evidence_window_s)
        self._lock = threading.Lock()

    # -- the tick -------------------------------------------------------------------------------
    def observe(self, now: float, signals: Signals, status: ReplicaStatus,
                startups: Sequence[float] | None = None) -> None:
        """One tick. ``startups``: start-up durations the actuator measured itself since the
        last tick (local processes); None derives them from the replica status instead."""
        with self._lock:
            self.history.observe(now, signals)
            watched = self.watch.observe(now, status)
            for d in watched if startups is None else startups:
                if math.isfinite(d) and d > 0:
                    self.floor.observe_startup(d)
            rate = signals.request_rate
            if rate.ok and rate.at is not None:
                self.floor.observe_demand(rate.at, rate.value)
            self._capacity_evidence(now, signals, status)
            current = self.slot.current()
            if current is not None and current.t_last is not None:
                t, y = self.history.since(current.t_last)
                if len(t):
                    advanced = current.updated(t, y)
                    if advanced is not current:
                        self.slot.swap(advanced)

    def _capacity_evidence(self, now: float, signals: Signals, status: ReplicaStatus) -> None:
        self.evidence.feed(self.capacity, now, signals, status)

    def lead_s(self, policy: ScalingPolicy, tick_s: float) -> tuple[float, str]:
        return self.floor.startup.lead_s(policy.startup_s, tick_s)

    def propose(self, policy: ScalingPolicy, now: float, tick_s: float) -> tuple[Proposal, dict[str, Any] | None]:
        """The floor, and the forecast record for the decision (None before a fit)."""
        cap = self.capacity.capacity if self.capacity is not None else None
        with self._lock:
            proposal = self.floor.propose(policy, self.slot.current(), now, cap, tick_s, UNIT)
            fc = self.floor.last_forecast
        if fc is None:
            return proposal, None
        lead, lead_detail = self.lead_s(policy, tick_s)
        record = {
            "series": "request_rate", **fc, "quantiles": {"0.5": fc["p50"], str(fc["quantile"]): fc["value"]},
            "lead_s": lead, "lead_detail": lead_detail, "capacity_per_replica": cap,
            "capacity_detail": self.capacity_detail, "floor": proposal.replicas,
        }
        if proposal.replicas is None:
            record["dropped"] = proposal.detail
        return proposal, record

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float, tick_s: float,
               startups: Sequence[float] | None = None) -> tuple[Advice, dict[str, Any] | None]:
        """One tick of the forecast advisor (live and simulated): observe, then the floor as
        advice; also the forecast record (None before a fit) for the caller's metrics."""
        self.observe(now, signals, status, startups)
        proposal, record = self.propose(policy, now, tick_s)
        return forecast_advice(proposal, record), record

    # -- the fit job ------------------------------------------------------------------------------
    def factory(self, budget: FitBudget | None = None) -> Callable[[], QuantileForecaster]:
        s = self.settings
        cands = quick_candidates(s.max_horizon_s) if s.quick else (
            lambda: default_candidates((DAY_S, WEEK_S), max_horizon_s=s.max_horizon_s))
        return lambda: AutoForecaster(step_s=s.step_s, max_horizon_s=s.max_horizon_s, budget=budget,
                                      candidates=cands)

    def fit(self, now: float, policy: ScalingPolicy, *, budget: FitBudget | None = None,
            monotonic: Callable[[], float] | None = None) -> dict[str, Any]:
        """Refit on the history recorded up to now; returns what happened (for a log line)."""
        with self._lock:  # the tick appends to the history meanwhile: read a snapshot
            sizes = self.history.mean_sizes(now, self.settings.capacity_window_s)
            t, y = self.history.series("request_rate")
        self._model_capacity(sizes, policy)
        keep = t <= now
        t, y = t[keep], y[keep]
        seen = int(np.isfinite(y).sum())
        span = float(t[-1] - t[0]) if len(t) > 1 else 0.0
        if span < self.settings.min_history_s or seen < 2:
            self.last_fit = {"fitted": False, "reason": f"history {span:.0f}s < {self.settings.min_history_s:g}s"
                                                        f" ({seen} observed samples)"}
            return self.last_fit
        try:
            fitted = fit_fresh(self.factory(budget), t, y, monotonic)
        except ValueError as exc:
            self.last_fit = {"fitted": False, "reason": f"fit failed: {exc}"[:300]}
            return self.last_fit
        with self._lock:
            assert fitted.t_last is not None
            t2, y2 = self.history.since(fitted.t_last)
            if len(t2):
                fitted = fitted.updated(t2, y2)
            self.slot.swap(fitted)
        rep = fitted.report
        self.last_fit = {"fitted": True, "model": rep.get("chosen", fitted.name), "samples": len(t),
                         "seconds": rep.get("fit_seconds_total", rep.get("total_fit_seconds")),
                         "skipped": sorted(rep.get("skipped", {})), "capacity": self.capacity_detail}
        return self.last_fit

    def _model_capacity(self, sizes: tuple[float, float] | None, policy: ScalingPolicy) -> None:
        if sizes is None:
            return
        modelled, self.capacity_detail = model_capacity(self.profile, policy, *sizes, self.capacity)
        if modelled is not None:
            self.capacity = modelled

    # -- state across restarts ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "version": 1, "profile": self.profile.name, "history": self.history.to_dict(),
            "forecaster": self.slot.to_state(), "floor": self.floor.to_dict(),
            "capacity": None if self.capacity is None else self.capacity.to_dict(),
            "capacity_detail": self.capacity_detail, "watch": self.watch.to_dict(),
        }

    @staticmethod
    def from_dict(d: dict[str, Any], profile: PerformanceProfile,
                  settings: PlannerSettings | None = None) -> PredictivePlanner:
        if d.get("version") != 1:
            raise ValueError(f"planner.version: unsupported {d.get('version')!r}")
        fc = d.get("forecaster")
        return PredictivePlanner(
            profile, settings, history=RateHistory.from_dict(d["history"]),
            slot=ForecastSlot(None if fc is None else from_state(fc)),
            floor=PredictiveFloor.from_dict(d["floor"]),
            capacity=None if d.get("capacity") is None else CapacityEstimator.from_dict(d["capacity"]),
            watch=StartupWatch.from_dict(d.get("watch") or {}), capacity_detail=str(d.get("capacity_detail", "")),
        )
