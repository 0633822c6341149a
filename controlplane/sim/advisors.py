"""The controller's advisors with simulated inputs and the simulated clock.

Owns: :func:`sim_advisors`, the advisors a simulated policy runs, in the order
:func:`controlplane.controller.wire_advisors` gives the live loop: the forecast
floor (:class:`SimForecastAdvisor`, the live planner refitted on simulated
time; see :mod:`controlplane.sim.predictive`), the model-based sizing
(:class:`~controlplane.advisors.sizing.SizingAdvisor`), the schedule pre-warm
(:class:`~controlplane.advisors.prewarm.PrewarmAdvisor`, its lead lengthened
by the start-ups measured in the replay), the anomaly guard
(:class:`~controlplane.advisors.anomaly_guard.AnomalyGuard`, when asked for:
the live controller runs it only with Alertmanager or Elasticsearch
configured) and the operator's overrides
(:class:`~controlplane.advisors.overrides.PlannedOverrides`, from a plan).
Each advises only the policies its feature is on for, so a policy without
predictive scaling, schedule windows or overrides decides as the bare decider.
Must not import: any I/O library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.advisors.anomaly_guard import AnomalyGuard
from controlplane.advisors.overrides import PlannedOverride, PlannedOverrides
from controlplane.advisors.planner import PlannerSettings, PredictivePlanner, forecast_advice
from controlplane.advisors.prewarm import PrewarmAdvisor
from controlplane.advisors.sizing import SizingAdvisor
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice, Advisor, ReplicaStatus
from controlplane.signals import Signals

__all__ = ["sim_advisors", "SimForecastAdvisor", "REFIT_S"]

# Refit every 2 h of simulated time: the live default refits every 10 min of wall
# time, but a 14-day replay would spend most of its time fitting; between fits
# the state still takes every new observation.
REFIT_S = 7200.0


@dataclass
class SimForecastAdvisor:
    """The forecast advisor with simulated time: the live one's planner, refitted every ``refit_s``.

    Like :class:`~controlplane.advisors.forecast.ForecastAdvisor` it advises only
    policies with ``predictive.enabled`` and returns the same advice (the floor and
    the forecast record, :meth:`PredictivePlanner.advise`). One instance serves one
    simulated target.
    """

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

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        if not policy.predictive.enabled:
            return Advice()
        planner = self.planner
        assert planner is not None
        planner.observe(now, signals, status)
        if self._next_fit is None:
            self._next_fit = now + self.settings.min_history_s
        if now >= self._next_fit:
            report = planner.fit(now, policy)
            self.fits.append({"at": now, **report})
            # Until the first fit succeeds, try again soon rather than in refit_s.
            self._next_fit = now + (self.refit_s if report.get("fitted") else self.settings.min_history_s)
        return forecast_advice(*planner.propose(policy, now, self.tick_s))

    def startup_p95(self, target_key: str) -> float | None:
        """The measured start-up p95 (None until enough start-ups were seen), for the pre-warm lead."""
        return None if self.planner is None else self.planner.floor.startup.p95()


def sim_advisors(
    profile: PerformanceProfile,
    *,
    tick_s: float = 15.0,
    refit_s: float = REFIT_S,
    settings: PlannerSettings | None = None,
    overrides: Sequence[PlannedOverride] = (),
    anomaly_guard: bool = False,
) -> list[Advisor]:
    """A fresh set (they keep per-run state): forecast, model sizing, pre-warm, [anomaly guard], overrides."""
    forecast = SimForecastAdvisor(profile, tick_s=tick_s, refit_s=refit_s, settings=settings or PlannerSettings())
    advisors: list[Advisor] = [forecast, SizingAdvisor(lambda _policy: profile),
                               PrewarmAdvisor(tick_s, startup_p95=forecast.startup_p95)]
    if anomaly_guard:
        advisors.append(AnomalyGuard())
    advisors.append(PlannedOverrides(overrides))
    return advisors
