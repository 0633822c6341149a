"""ForecastAdvisor: the predictive floor in the live loop, fitted off the tick, kept across restarts.

Worked numbers used below: llama-3.1-8b-h100 at 1,000 prompt / 200 output tokens
(snapped to 1,021 / 204 by the capacity cache's 5 % grid) sustains 15.54 req/s
at TTFT p95 2 s and ITL p95 100 ms (saturation-bound). Planned at the default
target utilisation 0.8: 12.58 req/s per replica. A steady 30 req/s forecast
exactly (a constant series has no backtest error) asks ceil(30 / 12.58) =
ceil(2.39) = 3 replicas. Lead = policy start-up 60 s + tick 15 s = 75 s.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from controlplane.advisors.forecast import ForecastAdvisor
from controlplane.advisors.planner import PlannerSettings
from controlplane.clock import FakeClock
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.protocols import ReplicaStatus
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from tests.advisors.helpers import ObeyingActuator, RateSource, policy, signals

TICK = 15.0
QUICK = PlannerSettings(quick=True, min_history_s=600.0, history_s=6 * 3600.0)


def _advisor(clock: FakeClock, tmp_path: Path | None = None, metrics: ControllerMetrics | None = None,
             **kw: object) -> ForecastAdvisor:
    return ForecastAdvisor(tick_s=TICK, clock=clock, metrics=metrics, state_dir=tmp_path, settings=QUICK,
                           fit_budget_s=None, **kw)  # type: ignore[arg-type]


def _feed(adv: ForecastAdvisor, clock: FakeClock, seconds: float, rate: float | None = 30.0,
          spec: int = 2) -> None:
    pol = policy()
    for _ in range(int(seconds // TICK)):
        clock.advance(TICK)
        adv.advise(pol, signals(clock.now(), rate), ReplicaStatus(spec, spec, 0), clock.now())


def test_disabled_policy_gets_no_advice() -> None:
    clock = FakeClock()
    adv = _advisor(clock)
    a = adv.advise(policy(predictive={"enabled": False}), signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0),
                   clock.now())
    assert a.floors == () and a.forecast is None and adv.planners == {}


def test_no_floor_before_a_fit_and_the_reason_is_kept() -> None:
    clock = FakeClock()
    adv = _advisor(clock)
    a = adv.advise(policy(), signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0), clock.now())
    (p,) = a.floors
    assert p.source == "predictive" and p.replicas is None and "no fitted forecast" in p.detail
    assert a.forecast is not None and a.forecast["floor"] is None


def test_too_little_history_is_reported_not_fitted() -> None:
    clock = FakeClock()
    adv = _advisor(clock)
    _feed(adv, clock, 300)
    (report,) = adv.fit_all().values()
    assert report["fitted"] is False and "history" in report["reason"]


def test_floor_after_fit_with_worked_numbers_and_metrics() -> None:
    clock = FakeClock()
    metrics = ControllerMetrics()
    adv = _advisor(clock, metrics=metrics)
    _feed(adv, clock, 1200)
    (report,) = adv.fit_all().values()
    assert report["fitted"] is True
    a = adv.advise(policy(), signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0), clock.now())
    (p,) = a.floors
    assert p.replicas == 3, p.detail
    fc = a.forecast
    assert fc is not None
    assert fc["lead_s"] == 75.0 and fc["horizon_s"] == 75.0
    assert fc["capacity_per_replica"] == pytest.approx(15.54, abs=0.01)
    assert fc["quantiles"]["0.5"] == pytest.approx(30.0) and fc["quantiles"]["0.9"] == pytest.approx(30.0)
    text = generate_latest(metrics.registry).decode()
    line = next(x for x in text.splitlines()
                if x.startswith('controlplane_forecast_request_rate{policy="chat",quantile="0.9"'))
    assert float(line.split()[-1]) == pytest.approx(30.0)
    # the fit's duration is exported as a pipeline step
    assert 'controlplane_tick_duration_seconds_count{step="forecast_fit"} 1.0' in text


def test_missing_rates_are_gaps_not_zero_demand() -> None:
    # 20 min at 30 req/s with the rate missing every other tick: the fit sees gaps, the
    # forecast stays at 30 (a zero would have pulled it down).
    clock = FakeClock()
    adv = _advisor(clock)
    pol = policy()
    for k in range(80):
        clock.advance(TICK)
        adv.advise(pol, signals(clock.now(), None if k % 2 else 30.0), ReplicaStatus(2, 2, 0), clock.now())
    t, y = adv.planners["ml/vllm"].history.series()
    assert sum(math.isnan(v) for v in y) == 40 and 0.0 not in y.tolist()
    adv.fit_all()
    a = adv.advise(pol, signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0), clock.now())
    assert a.forecast is not None and a.forecast["quantiles"]["0.5"] == pytest.approx(30.0)


def test_high_forecast_error_drops_the_floor_with_the_reason() -> None:
    # Fitted on a steady 30 req/s, then demand jumps at random between 5 and 60 req/s every
    # minute: a last-value forecast 75 s ahead misses by ~30 on average, wMAPE ~ 0.9 >> 0.35.
    clock = FakeClock()
    adv = _advisor(clock)
    _feed(adv, clock, 1200)
    adv.fit_all()
    pol = policy()
    minute_rates = np.random.default_rng(7).uniform(5.0, 60.0, 60)
    a = None
    for k in range(240):
        clock.advance(TICK)
        rate = float(minute_rates[k // 4])
        a = adv.advise(pol, signals(clock.now(), rate), ReplicaStatus(2, 2, 0), clock.now())
    assert a is not None
    (p,) = a.floors
    assert p.replicas is None and "floor dropped: forecast wMAPE" in p.detail
    assert a.forecast is not None and a.forecast["wmape"] > 0.35 and "floor dropped" in a.forecast["dropped"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    adv = _advisor(clock, tmp_path)
    _feed(adv, clock, 1200)
    adv.fit_all()
    assert list(tmp_path.glob("*.json")) == [tmp_path / "ml_vllm.json"]
    clock.advance(TICK)
    again = _advisor(clock, tmp_path)
    a = again.advise(policy(), signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0), clock.now())
    (p,) = a.floors
    assert p.replicas == 3, p.detail  # no refit needed: forecaster and capacity came back from disk


def test_corrupt_state_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "ml_vllm.json").write_text("{not json")
    clock = FakeClock()
    adv = _advisor(clock, tmp_path)
    a = adv.advise(policy(), signals(clock.now(), 30.0), ReplicaStatus(2, 2, 0), clock.now())
    assert a.floors[0].replicas is None


def test_actuator_startup_durations_set_the_lead() -> None:
    # The local actuator measured three start-ups of 40, 50 and 200 s: p95 (nearest rank) = 200,
    # lead = 200 + 15 = 215 s.
    durations: list[float] = []
    clock = FakeClock()
    adv = _advisor(clock, startup_source=lambda _p: durations)
    _feed(adv, clock, 1200)
    adv.fit_all()
    durations += [40.0, 50.0, 200.0]
    a = adv.advise(policy(), signals(clock.now() + TICK, 30.0), ReplicaStatus(2, 2, 0), clock.now() + TICK)
    assert a.forecast is not None and a.forecast["lead_s"] == 215.0


def test_fit_job_entry_uses_the_configured_interval() -> None:
    adv = _advisor(FakeClock())
    ((name, fn, every),) = adv.jobs(600.0)
    assert name == "forecast-fit" and fn == adv.fit_all and every == 600.0


def _loop(adv: ForecastAdvisor, source: RateSource, act: ObeyingActuator, clock: FakeClock) -> ControlLoop:
    return ControlLoop(policies=StaticPolicies([policy()]), source=source, actuator=act,
                       log=DecisionLog(Database(":memory:")), metrics=ControllerMetrics(), clock=clock,
                       advisors=[adv])


def test_floor_raises_the_decision_in_the_loop() -> None:
    # Reactive signals ask 1 replica (no queue, 4 running); the floor asks 3 for 30 req/s.
    clock = FakeClock()
    adv = _advisor(clock)
    act = ObeyingActuator(spec=1)
    loop = _loop(adv, RateSource(30.0), act, clock)
    for _ in range(80):
        clock.advance(TICK)
        loop.tick()
    adv.fit_all()
    clock.advance(TICK)
    (d,) = loop.tick()
    assert d.desired == 3 and d.binding == "floor:predictive"
    assert d.forecast is not None and d.forecast["floor"] == 3
    assert any(r.startswith("floor:predictive raises the ask to 3") for r in d.reasons)


def test_scale_down_never_below_what_current_load_needs() -> None:
    # 8 replicas; the queue (12 waiting / 2 per replica) needs 6; the floor asks only 3.
    # The decider takes max(reactive, floor) and steps down one pod per tick after the
    # 300 s down-stabilisation: 8 -> 7 -> 6, and never lower.
    clock = FakeClock()
    adv = _advisor(clock)
    act = ObeyingActuator(spec=8)
    source = RateSource(30.0, waiting=12.0)
    loop = _loop(adv, source, act, clock)
    for _ in range(80):
        clock.advance(TICK)
        loop.tick()
    adv.fit_all()
    seen = []
    for _ in range(40):
        clock.advance(TICK)
        (d,) = loop.tick()
        seen.append(d.desired)
        floor = next(p for p in d.proposals if p.source == "floor:predictive")
        assert floor.replicas == 3
    assert min(seen) == 6 and act.spec == 6


def test_error_metric_follows_the_model_without_stale_series() -> None:
    clock = FakeClock()
    metrics = ControllerMetrics()
    adv = _advisor(clock, metrics=metrics)
    pol = policy()
    adv._export(pol, {"quantiles": {}, "wmape": 0.2, "model": "last_value"})
    adv._export(pol, {"quantiles": {}, "wmape": 0.1, "model": "holt_damped"})
    lines = [x for x in generate_latest(metrics.registry).decode().splitlines()
             if x.startswith("controlplane_forecast_error_ratio{")]
    assert lines == ['controlplane_forecast_error_ratio{forecaster="holt_damped",policy="chat",target="ml/vllm"} 0.1']


def test_targets_not_seen_for_an_hour_are_not_refitted() -> None:
    clock = FakeClock()
    adv = _advisor(clock)
    _feed(adv, clock, 1200)
    clock.advance(3601.0)
    (report,) = adv.fit_all().values()
    assert report == {"fitted": False, "reason": "no observation in the last hour"}
