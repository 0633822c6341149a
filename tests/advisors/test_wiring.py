"""build_controller wires every advisor (API on or off), the fit job and the pre-warm ticks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from controlplane.advisors.forecast import ForecastAdvisor
from controlplane.advisors.prewarm import PrewarmAdvisor
from controlplane.config import ControllerConfig
from controlplane.controller import build_controller
from controlplane.policy.override import Override
from controlplane.store import Database
from controlplane.store.audit import Actor
from controlplane.store.overrides import OverrideAdvisor, OverrideStore
from tests.advisors.helpers import ObeyingActuator, RateSource, policy


def _config(tmp_path: Path) -> ControllerConfig:
    return ControllerConfig.model_validate({
        # never queried: the tests stop before the first 15 s tick
        "prometheus": {"url": "http://127.0.0.1:9", "timeout_s": 0.5},
        "loop": {"database": str(tmp_path / "cp.db"), "metrics_port": 0, "forecast_fit_interval_s": 300},
        "api": {"enabled": False},
    })


def _policies() -> list:
    return [policy(schedule=[{"name": "business", "start": "08:00", "end": "18:00", "timezone": "Europe/Berlin",
                              "min_replicas": 4}])]


def test_advisors_jobs_and_triggers_are_wired(tmp_path: Path) -> None:
    ctl = build_controller(_config(tmp_path), policies=_policies())
    try:
        kinds = [type(a) for a in ctl.loop.advisors]
        assert ForecastAdvisor in kinds and PrewarmAdvisor in kinds
        forecast = next(a for a in ctl.loop.advisors if isinstance(a, ForecastAdvisor))
        assert forecast.state_dir == (tmp_path / "forecast-state").resolve()
        assert [(name, every) for name, _, every in ctl.jobs] == [
            ("forecast-fit", 300.0), ("sizing-state-save", 300.0), ("decision-retention", 3600.0)]
        assert ctl.tick_triggers is not None
        assert [name for name, _ in ctl.tick_triggers()] == ["prewarm:chat:business"]
    finally:
        ctl.stop()


def test_started_scheduler_holds_the_fit_job_and_a_cron_tick_before_the_window(tmp_path: Path) -> None:
    ctl = build_controller(_config(tmp_path), policies=_policies()).start()
    try:
        sched = ctl._scheduler
        assert sched is not None
        ids = {job.id for job in sched.get_jobs()}
        assert {"tick", "forecast-fit", "decision-retention", "tick-triggers", "prewarm:chat:business"} <= ids
        nxt = sched.get_job("prewarm:chat:business").next_run_time
        # 60 s start-up + 15 s tick before 08:00 Berlin time
        assert (nxt.hour, nxt.minute, nxt.second) == (7, 58, 45)
        assert str(nxt.tzinfo) == "Europe/Berlin" and nxt > datetime.now(UTC)
    finally:
        ctl.stop()


def test_an_override_holds_with_the_api_off(tmp_path: Path) -> None:
    # Set while the API ran (here: straight into the table), then the controller restarts without it.
    config = _config(tmp_path)
    db = Database(config.loop.database)
    now = time.time()  # the controller reads the real clock; the override runs a week from now
    OverrideStore(db).create("ml/vllm", Override("pin", 7, now + 7 * 86400, "launch day", "ops"), Actor("ops", "operator"), now)
    db.close()
    ctl = build_controller(config, policies=_policies())
    try:
        assert [type(a) for a in ctl.loop.advisors][-1] is OverrideAdvisor
        ctl.loop.source = RateSource(rate=1.0)
        ctl.loop.actuator = ObeyingActuator(spec=2)
        (decision,) = ctl.loop.tick()
        assert decision.binding == "override:pin" and decision.desired == 7
    finally:
        ctl.stop()


def test_the_local_demo_and_replay_get_the_same_advisors(tmp_path: Path) -> None:
    from controlplane.advisors.sizing import SizingAdvisor
    from controlplane.clock import FakeClock
    from controlplane.controller import local_config, wire_advisors
    from controlplane.loop import StaticPolicies
    from controlplane.telemetry import ControllerMetrics

    db = Database(tmp_path / "cp.db")
    config = local_config(2.0, tmp_path / "cp.db", tmp_path / "state")
    wiring = wire_advisors(config, source=RateSource(), db=db, clock=FakeClock(), metrics=ControllerMetrics(),
                           store=StaticPolicies(_policies()))
    assert [type(a) for a in wiring.advisors] == [ForecastAdvisor, SizingAdvisor, PrewarmAdvisor, OverrideAdvisor]
    assert [name for name, _ in wiring.tick_triggers()] == ["prewarm:chat:business"]
    db.close()
