"""Predictive and scheduled scaling for :func:`controlplane.controller.build_controller`.

Owns: :func:`scaling_advisors`, which builds the
:class:`~controlplane.advisors.forecast.ForecastAdvisor`, the
:class:`~controlplane.advisors.sizing.SizingAdvisor` and
:class:`~controlplane.advisors.prewarm.PrewarmAdvisor` from the controller
settings and says which scheduler jobs they need. Must not import: a web,
Kubernetes or Elasticsearch client.

Forecast state, model-based sizing's (``sizing.json``: the rate record and the
corrected capacity, saved with each forecast fit and on stop) and the anomaly
advisor's (:mod:`~controlplane.advisors.anomaly_wiring`) go to
``forecast-state/`` beside the decision database (none for an in-memory
database). A local actuator's own start-up measurements
(process start to ready) feed the lead time of local targets; every other
target's start-ups are read from its replica status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.advisors.forecast import ForecastAdvisor, default_profile_for
from controlplane.advisors.prewarm import PrewarmAdvisor
from controlplane.advisors.prewarm_cron import prewarm_triggers
from controlplane.advisors.sizing import SizingAdvisor
from controlplane.advisors.state_file import StateFile
from controlplane.clock import Clock
from controlplane.config import ControllerConfig
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.protocols import PolicyStore
from controlplane.store.url import parse_database
from controlplane.telemetry import ControllerMetrics

__all__ = ["ScalingAdvisors", "scaling_advisors", "advisor_state_dir"]


@dataclass
class ScalingAdvisors:
    forecast: ForecastAdvisor
    sizing: SizingAdvisor
    schedule: PrewarmAdvisor
    jobs: list[tuple[str, Callable[[], Any], float]]
    tick_triggers: Callable[[], Sequence[tuple[str, Any]]]
    save: Callable[[], None]  # every advisor's state to the state directory (run on stop)

    @property
    def advisors(self) -> list[Any]:
        return [self.forecast, self.sizing, self.schedule]


def scaling_advisors(config: ControllerConfig, clock: Clock, metrics: ControllerMetrics, store: PolicyStore,
                     local: Any = None) -> ScalingAdvisors:
    state_dir = advisor_state_dir(config)
    measured = getattr(local, "startup_durations", None)

    def startups(policy: ScalingPolicy) -> Sequence[float] | None:
        return measured if measured is not None and isinstance(policy.target, LocalTarget) else None

    tick_s = config.loop.tick_s
    forecast = ForecastAdvisor(tick_s=tick_s, clock=clock, metrics=metrics, state_dir=state_dir,
                               startup_source=startups)
    schedule = PrewarmAdvisor(tick_s, startup_p95=forecast.startup_p95)
    sizing = SizingAdvisor(default_profile_for)
    sizing_file = StateFile(state_dir, "sizing.json")
    sizing_file.load(sizing.restore)
    every = config.loop.forecast_fit_interval_s

    save_sizing = sizing_file.saver(sizing.state)

    def save() -> None:
        forecast.save_all()
        save_sizing()

    return ScalingAdvisors(
        forecast=forecast,
        sizing=sizing,
        schedule=schedule,
        jobs=[*forecast.jobs(every), ("sizing-state-save", save_sizing, every)],
        tick_triggers=lambda: prewarm_triggers(store.list_policies(), tick_s),
        save=save,
    )


def advisor_state_dir(config: ControllerConfig) -> Path | None:
    """Where the forecast and anomaly advisors keep their state across restarts: ``loop.state_dir``;
    unset, ``forecast-state/`` beside a SQLite file (none for PostgreSQL or in memory)."""
    if config.loop.state_dir:
        return Path(config.loop.state_dir)
    url = parse_database(config.loop.database)
    if url.dialect != "sqlite" or url.target == ":memory:":
        return None
    return Path(url.target).resolve().parent / "forecast-state"
