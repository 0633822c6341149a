"""The predictive policy in the simulator: our decider plus the forecast floor, fitted on the past.

Owns: :class:`SimForecastFloor` (the ``floors`` hook of
:class:`~controlplane.sim.autoscaler.DecideAutoscaler`) and
:func:`predictive_autoscaler` (the registry's ``predictive`` entry).
Must not import: any I/O library.

It runs the live loop's code, not a copy: :func:`~controlplane.policy.decide.decide`
through :class:`DecideAutoscaler`, and the same
:class:`~controlplane.advisors.planner.PredictivePlanner` the live
:class:`~controlplane.advisors.forecast.ForecastAdvisor` holds, with the
simulated Prometheus view as its signals. Every ``refit_s`` of simulated time
the forecaster is refitted on the rates observed so far -- the planner's
history only ever holds ticks at or before ``now``, so nothing from the
replay's future reaches a fit -- and between fits it advances over new ticks
with ``updated``. Start-up times are measured from the replica status exactly
as live (from the tick that scaled up until ready replicas reach it), so the
lead follows the simulated cold starts. The fit uses the planner's quick
candidate set, as live, but without a wall-clock budget, so a replay gives
the same result on a busy and an idle machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controlplane.advisors.planner import PlannerSettings, PredictivePlanner
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.decision import Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Signals
from controlplane.sim.autoscaler import DecideAutoscaler

__all__ = ["SimForecastFloor", "predictive_autoscaler", "predictive_policy"]

# Refit every 2 h of simulated time: the live default refits every 10 min of wall
# time, but a 14-day replay would spend most of its time fitting; between fits
# the state still takes every new observation.
REFIT_S = 7200.0


def predictive_policy(policy: ScalingPolicy) -> ScalingPolicy:
    """The same policy with predictive scaling switched on (its other settings kept)."""
    return policy.model_copy(update={"predictive": policy.predictive.model_copy(update={"enabled": True})})


@dataclass
class SimForecastFloor:
    """(now, signals, status) -> the predictive floor, refitting on the past every ``refit_s``."""

    policy: ScalingPolicy
    profile: PerformanceProfile
    tick_s: float = 15.0
    refit_s: float = REFIT_S
    settings: PlannerSettings = field(default_factory=PlannerSettings)
    planner: PredictivePlanner | None = None
    fits: list[dict[str, Any]] = field(default_factory=list)
    _next_fit: float | None = None

    def __post_init__(self) -> None:
        if self.planner is None:
            self.planner = PredictivePlanner(self.profile, self.settings)

    def __call__(self, now: float, signals: Signals, status: ReplicaStatus) -> tuple[Proposal, ...]:
        planner = self.planner
        assert planner is not None
        planner.observe(now, signals, status)
        if self._next_fit is None:
            self._next_fit = now + self.settings.min_history_s
        if now >= self._next_fit:
            report = planner.fit(now, self.policy)
            self.fits.append({"at": now, **report})
            # Until the first fit succeeds, try again soon rather than in refit_s.
            self._next_fit = now + (self.refit_s if report.get("fitted") else self.settings.min_history_s)
        proposal, _ = planner.propose(self.policy, now, self.tick_s)
        return (proposal,)


def predictive_autoscaler(policy: ScalingPolicy, profile: PerformanceProfile, *, sync_period_s: float = 15.0,
                          refit_s: float = REFIT_S, settings: PlannerSettings | None = None) -> DecideAutoscaler:
    """``DecideAutoscaler`` named ``predictive`` whose floors come from :class:`SimForecastFloor`."""
    pol = predictive_policy(policy)
    floor = SimForecastFloor(pol, profile, tick_s=sync_period_s, refit_s=refit_s,
                             settings=settings or PlannerSettings())
    return DecideAutoscaler(pol, name="predictive", sync_period_s=sync_period_s, floors=floor)
