"""Each forecaster on series whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.forecast.ets import STLETS, HoltWinters
from controlplane.forecast.metrics import mae
from controlplane.forecast.naive import LastValue, SeasonalNaive
from controlplane.forecast.reverting import MeanReverting
from controlplane.forecast.series import regularize
from tests.forecast.helpers import STEP, M, periodic


def test_seasonal_naive_is_exact_on_a_pure_periodic_series() -> None:
    t, y = periodic(days=3)
    f = SeasonalNaive()
    f.fit(t, y)
    # from the last slot (index 431), k slots ahead is index 431+k: same phase as 431+k-144
    hs = [STEP, 6 * STEP, 36 * STEP, 143 * STEP, 144 * STEP, 200 * STEP]
    want = [200 + 100 * math.sin(2 * math.pi * (431 + h / STEP) / M) for h in hs]
    got = f.predict(t[-1], hs, [0.5, 0.9])
    assert np.allclose(got[0.5], want, atol=1e-9)
    # the backtest errors were all 0, so the p90 band has no width
    assert np.allclose(got[0.9], want, atol=1e-9)


def test_last_value_is_flat_and_counts_horizon_from_the_last_observation() -> None:
    f = LastValue()
    f.fit([600, 1200, 1800, 2400], [5.0, 7.0, 9.0, 4.0])
    assert f.predict(2400, [60, 3600], [0.5])[0.5] == pytest.approx([4.0, 4.0])


def test_holt_winters_beats_last_value_on_a_seasonal_series() -> None:
    t, y = periodic(days=6, noise=8.0, seed=1)
    train_t, train_y, test_t, test_y = t[: 5 * M], y[: 5 * M], t[5 * M:], y[5 * M:]
    h = [3 * 3600.0]  # 18 slots: a quarter of the daily swing separates now from then
    scores = {}
    for f in (LastValue(max_horizon_s=h[0]), HoltWinters(max_horizon_s=h[0]), STLETS(max_horizon_s=h[0])):
        f.fit(train_t, train_y)
        _, qs = f.rolling(test_t, test_y, h, [0.5])
        actual = np.full(len(test_y), np.nan)
        actual[:-18] = test_y[18:]
        scores[f.name] = mae(qs[0.5][:, 0], actual)
    # last value is off by up to the 100-unit swing; the seasonal models only by the noise (sd 8)
    assert scores["holt_winters_daily"] < 0.3 * scores["last_value"]
    assert scores["stl_ets_daily"] < 0.3 * scores["last_value"]


def test_state_recursion_matches_statsmodels_forecast() -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    t, y = periodic(days=4, noise=5.0, seed=2, drift=0.05)
    f = HoltWinters(log=False, validation_fraction=0.1)
    f.fit(t, y)
    split = f.report["estimation_slots"]
    # the same model estimated by statsmodels on the head, then its forecast from the end of the head
    ref = ExponentialSmoothing(y[:split], trend="add", damped_trend=True, seasonal="add", seasonal_periods=M,
                               initialization_method="heuristic").fit()
    head = HoltWinters(log=False, validation_fraction=0.1)
    head.fit_grid(regularize(t[:split], y[:split], STEP), split)
    got = head.predict(t[split - 1], [k * STEP for k in (1, 10, 100)], [0.5])
    assert head.residuals is None  # nothing left to backtest on: the bands are uncalibrated
    assert np.allclose(got[0.5], ref.forecast(100)[[0, 9, 99]], rtol=1e-9)


def test_missing_history_is_not_read_as_zero() -> None:
    t, y = periodic(days=4, noise=3.0, seed=3)
    y = y.copy()
    y[-40:-10] = np.nan  # five hours of scrape failures shortly before the end
    for f in (LastValue(), SeasonalNaive(), HoltWinters(), STLETS()):
        f.fit(t, y)
        p50 = f.predict(t[-1], [STEP, 6 * STEP], [0.5])[0.5]
        # the series never goes below 100; a gap read as 0 would drag forecasts towards 0
        assert all(v > 80 for v in p50), (f.name, p50)


def test_trailing_gap_lengthens_the_horizon() -> None:
    # season of 4 slots; data ends at 4800. At now=6600 a 600 s horizon targets 7200,
    # ceil((7200 - 4800) / 600) = 4 slots past the last observation: phase 3, value 4
    f = SeasonalNaive(season_s=2400.0)
    f.fit([600, 1200, 1800, 2400, 3000, 3600, 4200, 4800], [1, 2, 3, 4, 1, 2, 3, 4])
    assert f.predict(4800, [600], [0.5])[0.5] == pytest.approx([1.0])
    assert f.predict(6600, [600], [0.5])[0.5] == pytest.approx([4.0])


def test_updated_returns_a_new_forecaster_and_leaves_the_old_one() -> None:
    f = LastValue()
    f.fit([600, 1200], [5.0, 6.0])
    g = f.updated([1800, 2400], [9.0, float("nan")])
    assert f.predict(1200, [600], [0.5])[0.5] == pytest.approx([6.0])
    assert g.t_last == 2400 and g.predict(2400, [600], [0.5])[0.5] == pytest.approx([9.0])
    assert f.updated([600], [100.0]) is f  # nothing newer than t_last


def test_seasonal_naive_gap_keeps_the_previous_season() -> None:
    f = SeasonalNaive(season_s=1800.0)  # 3 slots
    f.fit([600, 1200, 1800, 2400, 3000, 3600], [1.0, 2.0, 3.0, 10.0, float("nan"), 30.0])
    # next slot is phase 0 (10), then phase 1: missing this season, so 2.0 from the season before
    assert f.predict(3600, [600, 1200, 1800], [0.5])[0.5] == pytest.approx([10.0, 2.0, 30.0])


@pytest.mark.parametrize(
    ("kwargs", "call", "field"),
    [
        ({}, lambda f: f.predict(0, [60], [0.5]), "last_value"),
        ({"fit": True}, lambda f: f.predict(0, [60], [1.5]), "quantiles"),
        ({"fit": True}, lambda f: f.predict(0, [-60], [0.5]), "horizons_s"),
        ({"fit": True}, lambda f: f.predict(0, [], [0.5]), "horizons_s"),
    ],
    ids=["not-fitted", "quantile-out-of-range", "negative-horizon", "no-horizons"],
)
def test_predict_errors_name_the_field(kwargs, call, field) -> None:  # type: ignore[no-untyped-def]
    f = LastValue()
    if kwargs.get("fit"):
        f.fit([0, 60], [1.0, 2.0])
    with pytest.raises(ValueError, match=f"^{field}:"):
        call(f)


def test_mean_reverting_relaxes_to_the_recent_level() -> None:
    # a level of 100 with AR(1) excursions (phi 0.9) ending 50% high: short horizons stay near
    # the last value, long ones come back towards 100
    rng = np.random.default_rng(11)
    n = 2000
    dev = np.zeros(n)
    for i in range(1, n):
        dev[i] = 0.9 * dev[i - 1] + rng.normal(0, 0.05)
    z = np.log1p(100.0) + dev
    z[-1] = np.log1p(150.0)
    t = (np.arange(n) + 1) * 60.0
    f = MeanReverting(max_horizon_s=3600.0)
    f.fit(t, np.expm1(z))
    assert 0.8 < f.report["params"]["phi"] < 0.97
    near, far = f.predict(t[-1], [60.0, 3600.0], [0.5])[0.5]
    assert 125 < near < 150
    assert 90 < far < 110
    # a missing slot lets the excursion decay as forecast instead of reading 0
    g = f.updated([t[-1] + 60.0], [float("nan")])
    assert 100 < g.predict(t[-1] + 60.0, [60.0], [0.5])[0.5][0] < near
