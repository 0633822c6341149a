"""The predictive floor: its arithmetic, the lead time, and dropping it when forecasts go wrong."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.forecast.predictive import (
    ForecastErrorTracker,
    PredictiveFloor,
    StartupEstimator,
    floor_replicas,
)
from controlplane.policy.model import ScalingPolicy

NOW = 1_700_000_000.0


def policy(**predictive: Any) -> ScalingPolicy:
    pred = {"enabled": True, **predictive}
    return ScalingPolicy.model_validate({"name": "chat", "target": {"kind": "local", "group": "g"},
                                         "predictive": pred, "max_replicas": 64})


class FixedForecast:
    """Answers every predict with the same p50/p90 and remembers what it was asked."""

    name = "fixed"
    fitted = True
    t_last = NOW - 30.0

    def __init__(self, p50: float, p90: float) -> None:
        self.p50, self.p90 = p50, p90
        self.report: dict[str, Any] = {}
        self.asked: list[tuple[float, list[float]]] = []

    def predict(self, now: float, horizons_s: list[float], quantiles: list[float]) -> dict[float, list[float]]:
        self.asked.append((now, list(horizons_s)))
        return {q: [self.p50 if q == 0.5 else self.p90] for q in quantiles}


class StaleForecast(FixedForecast):
    t_last = NOW - 3600.0


@pytest.mark.parametrize(
    ("demand", "capacity", "util", "want"),
    [
        (420.0, 12.5, 0.8, 42),  # 420 / (12.5 x 0.8 = 10) = 42 exactly: no extra replica for float noise
        (421.0, 12.5, 0.8, 43),  # 42.1 -> 43
        (0.0, 12.5, 0.8, 0),  # no demand: the floor asks nothing (min_replicas still applies in the decider)
        (9.0, 10.0, 1.0, 1),  # 0.9 -> 1
    ],
    ids=["exact", "just-over", "zero", "fraction"],
)
def test_floor_replicas_arithmetic(demand: float, capacity: float, util: float, want: int) -> None:
    assert floor_replicas(demand, capacity, util) == want


@pytest.mark.parametrize(("args", "field"), [((1.0, 0.0, 0.8), "capacity_per_replica"),
                                             ((1.0, 1.0, 1.5), "target_utilization"),
                                             ((float("nan"), 1.0, 0.8), "demand")],
                         ids=["no-capacity", "utilization>1", "nan-demand"])
def test_floor_replicas_rejects_bad_input(args: tuple[float, float, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        floor_replicas(*args)


def test_floor_uses_policy_startup_plus_tick_as_lead_until_startups_are_seen() -> None:
    # lead = policy.startup_s 180 + tick 15 = 195 s; p90 420 req/s; 12.5 x 0.8 = 10 -> 42 replicas
    fc = FixedForecast(p50=380.0, p90=420.0)
    prop = PredictiveFloor().propose(policy(), fc, NOW, 12.5, tick_s=15.0)
    assert prop.source == "predictive" and prop.replicas == 42
    assert fc.asked == [(NOW, [195.0])]
    assert "now+195s" in prop.detail and "ceil(420 / 10) = 42" in prop.detail
    assert "policy start-up 180s" in prop.detail


def test_floor_lead_is_the_observed_startup_p95_plus_tick() -> None:
    # 20 start-ups of 10, 20, ..., 200 s: nearest-rank p95 is the 19th, 190 s; lead 190 + 10 = 200 s
    floor = PredictiveFloor(startup=StartupEstimator(samples=[10.0 * i for i in range(1, 21)]))
    fc = FixedForecast(100.0, 100.0)
    floor.propose(policy(), fc, NOW, 10.0, tick_s=10.0)
    assert fc.asked[-1] == (NOW, [200.0])


@pytest.mark.parametrize(
    ("samples", "want"),
    [([], None), ([60.0, 70.0], None), ([60.0, 62.0, 65.0, 70.0, 200.0], 200.0),
     ([10.0 * i for i in range(1, 21)], 190.0), ([10.0 * i for i in range(1, 31)], 290.0)],
    ids=["none", "too-few", "five-max", "twenty-19th", "window-keeps-last-20"],
)
def test_startup_p95(samples: list[float], want: float | None) -> None:
    # window 20: of 10..300 s only 110..300 remain; the 19th of those is 290 s
    assert StartupEstimator(samples=samples).p95() == want


def test_startup_rejects_non_positive_durations() -> None:
    with pytest.raises(ValueError, match="^duration_s:"):
        StartupEstimator().observe(0.0)


def test_error_tracker_settles_forecasts_once_their_time_has_come() -> None:
    tr = ForecastErrorTracker(min_pairs=2, match_within_s=300.0)
    tr.record(100.0, 10.0)
    tr.record(160.0, 20.0)
    assert tr.observe(90.0, 12.0) == 0  # too early for both
    assert tr.observe(100.0, float("nan")) == 0  # a missing actual scores nothing
    assert tr.observe(100.0, 12.0) == 1
    assert tr.wmape() is None  # 1 pair < min_pairs
    assert tr.observe(170.0, 25.0) == 1
    # (|12 - 10| + |25 - 20|) / (12 + 25) = 7 / 37
    assert tr.wmape() == pytest.approx(7 / 37)
    tr.record(200.0, 5.0)
    assert tr.observe(600.0, 5.0) == 0  # 400 s after its target: a gap, dropped unscored
    again = ForecastErrorTracker.from_dict(tr.to_dict())
    assert again.wmape() == pytest.approx(7 / 37)


def test_floor_is_dropped_when_recent_forecasts_missed() -> None:
    # ten forecasts of 100 against actuals of 50: wMAPE = 10 x 50 / (10 x 50) = 1.0 > 0.35
    tracker = ForecastErrorTracker(min_pairs=10)
    for i in range(10):
        tracker.record(float(i), 100.0)
    tracker.observe(10.0, 50.0)
    prop = PredictiveFloor(errors=tracker).propose(policy(), FixedForecast(100.0, 120.0), NOW, 10.0, tick_s=15.0)
    assert prop.replicas is None
    assert "floor dropped" in prop.detail and "1.00" in prop.detail and "0.35" in prop.detail


def test_floor_records_its_p50_for_later_scoring() -> None:
    floor = PredictiveFloor(errors=ForecastErrorTracker(min_pairs=1))
    floor.propose(policy(), FixedForecast(100.0, 130.0), NOW, 10.0, tick_s=15.0)
    # the p50 (100) targets now + 195; an actual of 80 at that time gives |80 - 100| / 80
    assert floor.observe_demand(NOW + 195.0, 80.0) == 1
    assert floor.errors.wmape() == pytest.approx(0.25)
    assert floor.last_forecast is not None and floor.last_forecast["value"] == 130.0


@pytest.mark.parametrize(
    ("pol", "fc", "capacity", "reason"),
    [
        (policy(enabled=False), FixedForecast(1.0, 1.0), 10.0, "disabled"),
        (policy(), None, 10.0, "no fitted forecast"),
        (policy(), FixedForecast(float("nan"), float("nan")), 10.0, "missing (NaN)"),
        (policy(), FixedForecast(1.0, 1.0), None, "capacity per replica unknown"),
        (policy(), StaleForecast(1.0, 1.0), 10.0, "stale: newest observation 3600s old > 900s"),
    ],
    ids=["disabled", "no-forecast", "nan-forecast", "no-capacity", "stale-state"],
)
def test_no_floor_without_what_it_needs(pol, fc, capacity, reason) -> None:  # type: ignore[no-untyped-def]
    prop = PredictiveFloor().propose(pol, fc, NOW, capacity, tick_s=15.0)
    assert prop.replicas is None and reason in prop.detail


def test_floor_state_round_trip() -> None:
    floor = PredictiveFloor(startup=StartupEstimator(samples=[50.0, 60.0, 70.0]))
    floor.propose(policy(), FixedForecast(10.0, 12.0), NOW, 10.0, tick_s=15.0)
    again = PredictiveFloor.from_dict(floor.to_dict())
    assert again.startup.p95() == 70.0
    assert again.errors.to_dict() == floor.errors.to_dict()
