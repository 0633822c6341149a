"""The forecast advisor: the predictive floor in the live control loop.

Owns: :class:`ForecastAdvisor` -- one
:class:`~controlplane.advisors.planner.PredictivePlanner` per policy with
``predictive.enabled``, fed every tick (``advise``), refitted by a scheduled
job off the tick path (``fit_all``, listed by :meth:`jobs` for
:class:`~controlplane.controller.Controller`), its state saved as JSON after
every fit and on stop, and reloaded when a policy is first seen after a
restart. Must not import: a web, Kubernetes or Elasticsearch client; the
scheduler belongs to the controller.

Each tick returns ``Advice(floors=(Proposal("predictive", ...),),
forecast={...})`` and sets ``controlplane_forecast_request_rate{quantile}``
(p50 and the policy's quantile at the lead time) and
``controlplane_forecast_error_ratio`` (rolling wMAPE of settled forecasts).
A high forecast error drops the floor with the reason in the proposal
(:class:`~controlplane.forecast.predictive.PredictiveFloor`); the decider
takes max(reactive ask, floor) and stabilises scale-down, so the floor never
takes replicas away from what current load needs. Fitting time is bounded by
a :class:`~controlplane.forecast.budget.FitBudget` and reported as the
``forecast_fit`` step of ``controlplane_tick_duration_seconds`` and in a log line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controlplane.advisors.planner import PlannerSettings, PredictivePlanner
from controlplane.capacity.profile import PerformanceProfile, get_profile
from controlplane.clock import Clock, SystemClock
from controlplane.forecast.budget import FitBudget
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.protocols import Advice, ReplicaStatus
from controlplane.signals import Signals
from controlplane.telemetry import ControllerMetrics

__all__ = ["ForecastAdvisor", "default_profile_for", "FIT_BUDGET_S", "KUBERNETES_PROFILE"]

log = logging.getLogger(__name__)

# Seconds one target's fit may take: the fit job runs every 10 min beside the
# tick on a small controller; damped Holt on 3 days of minutes takes ~1 s, the
# daily seasonal smoothing models several, and the selector skips what does not fit.
FIT_BUDGET_S = 5.0

# A target not observed for this long (policy removed, or predictive switched off) is not refitted.
IDLE_S = 3600.0


# A Kubernetes target runs real vLLM on GPUs and its policy names no profile;
# the shipped GPU profile stands in until one is injected (``profile_for``).
KUBERNETES_PROFILE = "llama-3.1-8b-h100"


def default_profile_for(policy: ScalingPolicy) -> PerformanceProfile:
    """A local target names its profile; a Kubernetes one gets :data:`KUBERNETES_PROFILE`."""
    if isinstance(policy.target, LocalTarget):
        return get_profile(policy.target.profile)
    return get_profile(KUBERNETES_PROFILE)


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".json"


class ForecastAdvisor:
    """Predictive floors for every policy that enables them (see the module docstring)."""

    def __init__(
        self,
        *,
        tick_s: float,
        clock: Clock | None = None,
        metrics: ControllerMetrics | None = None,
        state_dir: str | Path | None = None,
        fit_budget_s: float | None = FIT_BUDGET_S,
        settings: PlannerSettings | None = None,
        profile_for: Callable[[ScalingPolicy], PerformanceProfile] = default_profile_for,
        startup_source: Callable[[ScalingPolicy], Sequence[float] | None] | None = None,
    ) -> None:
        if not tick_s > 0:
            raise ValueError("tick_s: must be > 0")
        self.tick_s = float(tick_s)
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.fit_budget_s = fit_budget_s
        self.settings = settings or PlannerSettings()
        self.profile_for = profile_for
        self.startup_source = startup_source
        self.planners: dict[str, PredictivePlanner] = {}
        self.policies: dict[str, ScalingPolicy] = {}
        self.last_fits: dict[str, dict[str, Any]] = {}
        self._consumed: dict[str, int] = {}
        self._error_label: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    # -- the tick ---------------------------------------------------------------------------------
    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        if not policy.predictive.enabled:
            return Advice()
        planner = self._planner(policy)
        advice, record = planner.advise(policy, signals, status, now, self.tick_s, self._new_startups(policy))
        self._export(policy, record)
        return advice

    def _new_startups(self, policy: ScalingPolicy) -> list[float] | None:
        if self.startup_source is None:
            return None
        seen = self.startup_source(policy)
        if seen is None:
            return None
        key = policy.target_key
        done = self._consumed.get(key, 0)
        if done > len(seen):  # the source was reset: everything in it is new
            done = 0
        self._consumed[key] = len(seen)
        return list(seen[done:])

    def _export(self, policy: ScalingPolicy, record: dict[str, Any] | None) -> None:
        if self.metrics is None or record is None:
            return
        lv = (policy.name, policy.target_key)
        for q, v in record.get("quantiles", {}).items():
            self.metrics.forecast.labels(*lv, q).set(v)
        if record.get("wmape") is not None:
            model = str(record.get("model"))
            previous = self._error_label.get(lv)
            if previous is not None and previous != model:
                # a refit may choose another model: drop the old series rather than leave it stale
                self.metrics.forecast_error.remove(*lv, previous)
            self.metrics.forecast_error.labels(*lv, model).set(record["wmape"])
            self._error_label[lv] = model

    def _planner(self, policy: ScalingPolicy) -> PredictivePlanner:
        key = policy.target_key
        with self._lock:
            self.policies[key] = policy
            planner = self.planners.get(key)
            if planner is None:
                planner = self._load(policy) or PredictivePlanner(self.profile_for(policy), self.settings)
                self.planners[key] = planner
            return planner

    def startup_p95(self, target_key: str) -> float | None:
        """The measured start-up p95 of a target (None until enough start-ups were seen)."""
        planner = self.planners.get(target_key)
        return None if planner is None else planner.floor.startup.p95()

    # -- the fit job --------------------------------------------------------------------------------
    def jobs(self, interval_s: float) -> list[tuple[str, Callable[[], Any], float]]:
        """The scheduler entries: (id, function, every seconds)."""
        return [("forecast-fit", self.fit_all, float(interval_s))]

    def fit_all(self) -> dict[str, dict[str, Any]]:
        """Refit every known target on its history so far, then save its state; never raises."""
        with self._lock:
            items = [(k, p, self.policies[k]) for k, p in self.planners.items()]
        out: dict[str, dict[str, Any]] = {}
        for key, planner, policy in items:
            now = self.clock.now()
            newest = planner.history.t_last
            if newest is None or now - newest > IDLE_S:
                # the policy was removed or stopped predicting: nothing new to fit on
                out[key] = {"fitted": False, "reason": "no observation in the last hour"}
                continue
            budget = None if self.fit_budget_s is None else FitBudget(self.fit_budget_s, self.clock.monotonic)
            try:
                if self.metrics is not None:
                    with self.metrics.step("forecast_fit"):
                        report = planner.fit(now, policy, budget=budget, monotonic=self.clock.monotonic)
                else:
                    report = planner.fit(now, policy, budget=budget, monotonic=self.clock.monotonic)
            except Exception as exc:
                log.exception("forecast fit failed for %s", key)
                report = {"fitted": False, "reason": f"fit raised: {exc}"}
            out[key] = report
            log.info("forecast fit for %s: %s", key, report)
            self._save(key, planner)
        self.last_fits.update(out)
        return out

    # -- state across restarts ---------------------------------------------------------------------------
    def save_all(self) -> None:
        with self._lock:
            items = list(self.planners.items())
        for key, planner in items:
            self._save(key, planner)

    def _save(self, key: str, planner: PredictivePlanner) -> None:
        if self.state_dir is None:
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path = self.state_dir / _file_name(key)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"target": key, "planner": planner.to_dict()}))
            os.replace(tmp, path)
        except (OSError, ValueError, TypeError):
            log.exception("could not save forecast state for %s", key)

    def _load(self, policy: ScalingPolicy) -> PredictivePlanner | None:
        if self.state_dir is None:
            return None
        path = self.state_dir / _file_name(policy.target_key)
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
            if doc.get("target") != policy.target_key:
                raise ValueError(f"target: state is for {doc.get('target')!r}")
            planner = PredictivePlanner.from_dict(doc["planner"], self.profile_for(policy), self.settings)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring forecast state %s: %s", path, exc)
            return None
        log.info("restored forecast state for %s from %s", policy.target_key, path)
        return planner
