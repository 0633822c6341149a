"""The predictive policy in the simulator: our decider plus the forecast floor, fitted on the past.

Owns: :func:`predictive_policy` and :func:`predictive_autoscaler` (the
registry's ``predictive`` entry); its forecast floor is
:class:`~controlplane.sim.advisors.SimForecastAdvisor`, one of the controller's
advisors :func:`~controlplane.sim.advisors.sim_advisors` builds.
Must not import: any I/O library.

It runs the live loop's code, not a copy: :func:`~controlplane.policy.decide.decide`
through :class:`DecideAutoscaler` (:func:`controlplane.tick.decide_tick`), and the same
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

from controlplane.advisors.planner import PlannerSettings
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.model import ScalingPolicy
from controlplane.sim.advisors import REFIT_S, sim_advisors
from controlplane.sim.autoscaler import DecideAutoscaler

__all__ = ["predictive_autoscaler", "predictive_policy"]


def predictive_policy(policy: ScalingPolicy) -> ScalingPolicy:
    """The same policy with predictive scaling switched on (its other settings kept)."""
    return policy.model_copy(update={"predictive": policy.predictive.model_copy(update={"enabled": True})})


def predictive_autoscaler(policy: ScalingPolicy, profile: PerformanceProfile, *, sync_period_s: float = 15.0,
                          refit_s: float = REFIT_S, settings: PlannerSettings | None = None) -> DecideAutoscaler:
    """``DecideAutoscaler`` named ``predictive``: the policy with predictive scaling on and the
    controller's advisors (:func:`~controlplane.sim.advisors.sim_advisors`)."""
    pol = predictive_policy(policy)
    advisors = sim_advisors(profile, tick_s=sync_period_s, refit_s=refit_s, settings=settings or PlannerSettings())
    return DecideAutoscaler(pol, name="predictive", sync_period_s=sync_period_s, advisors=advisors)
