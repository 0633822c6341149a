"""Why seasonal models lost to the naive baselines, each cause on a series with a known answer."""

from __future__ import annotations

import math

import numpy as np

from controlplane.forecast.ets import MSTLETS, STLETS, HoltWinters
from controlplane.forecast.metrics import mae
from controlplane.forecast.naive import LastValue, SeasonalNaive
from controlplane.forecast.profile import ProfileLevel, daily_profile
from controlplane.forecast.series import regularize
from tests.forecast.helpers import STEP, M


def _walk(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A positive random walk (log scale) with no season at all."""
    n = days * M
    z = 5.0 + np.cumsum(np.random.default_rng(seed).normal(0.0, 0.03, n))
    return (np.arange(n) + 1) * STEP, np.exp(z)


def _backtest_mae(model, t, y) -> float:  # type: ignore[no-untyped-def]
    grid = regularize(t, y, STEP)
    bt = model.fit_grid(grid, model.default_split(len(grid), STEP))
    return mae(bt.forecasts, bt.actuals)


def test_a_decomposed_season_that_is_not_there_is_dropped() -> None:
    # no season: STL still returns one (noise); carried forward it made STL + ETS worse than
    # damped Holt even 10 min ahead. Scaled by its strength, it is next to nothing.
    t, y = _walk(days=5, seed=4)
    stl = STLETS(max_horizon_s=3600.0)
    holt = HoltWinters(season_s=None, max_horizon_s=3600.0)
    err_stl, err_holt = _backtest_mae(stl, t, y), _backtest_mae(holt, t, y)
    assert stl.report["params"]["season_strength"] < 0.3
    assert err_stl < 1.05 * err_holt


def test_a_real_season_is_kept_at_full_strength() -> None:
    n = 5 * M
    i = np.arange(n)
    y = 200.0 * np.exp(0.5 * np.sin(2 * np.pi * i / M)) * np.exp(np.random.default_rng(1).normal(0, 0.02, n))
    stl = STLETS(max_horizon_s=3 * 3600.0)
    stl.fit((i + 1) * STEP, y)
    assert stl.report["params"]["season_strength"] > 0.9
    # 3 h ahead from the last slot (index n-1): the shape at index n-1+18
    want = 200.0 * math.exp(0.5 * math.sin(2 * math.pi * (n - 1 + 18) / M))
    assert abs(stl.predict(float(n * STEP), [3 * 3600.0], [0.5])[0.5][0] / want - 1) < 0.06


def _drifting(days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A daily shape on a level that wanders (+-25 % over five days); t, y and the noise-free truth."""
    n = days * M
    i = np.arange(n)
    truth = 300.0 * np.exp(0.25 * np.sin(2 * np.pi * i / (5 * M)) + 0.4 * np.sin(2 * np.pi * i / M))
    y = truth * np.exp(np.random.default_rng(5).normal(0.0, 0.03, n))
    return (i + 1) * STEP, y, truth


def test_level_drift_over_the_week_is_followed_by_the_profile_model() -> None:
    # seasonal naive repeats yesterday's level, up to 30 % off (and no fixed bias correction fits a
    # level that rises, then falls); the rescaled profile carries today's shape at the current level
    t, y, truth = _drifting(days=8)
    n_train = 7 * M
    k = 36  # 6 h
    actual = np.full(len(y) - n_train, np.nan)
    actual[:-k] = truth[n_train + k:]
    scores = {}
    for f in (ProfileLevel(max_horizon_s=6 * 3600.0), SeasonalNaive(max_horizon_s=6 * 3600.0)):
        f.fit(t[:n_train], y[:n_train])
        _, qs = f.rolling(t[n_train:], y[n_train:], [k * STEP], [0.5])
        scores[f.name] = mae(qs[0.5][:, 0], actual) / float(np.mean(truth[n_train:]))
    assert scores["seasonal_naive_daily"] > 0.06
    assert scores["profile_level"] < 0.6 * scores["seasonal_naive_daily"]


def test_the_profile_ignores_the_level_drift() -> None:
    _, y, truth = _drifting(days=5)
    prof = daily_profile(np.log(truth), M)
    # phase 0 is the slot after the last one (index 6 x 144): sin(0) = 0, peak at phase 36
    assert abs(prof[0]) < 0.03 and abs(prof[36] - 0.4) < 0.03 and abs(prof[108] + 0.4) < 0.03


def test_weekday_and_weekend_need_the_weekly_season() -> None:
    # weekends at half the weekday level: a daily-only model forecasts Saturday like Friday;
    # MSTL with a weekly season (three weeks of history) does not
    step = 1800.0
    m = 48
    n = 21 * m + 10 * m  # three weeks to fit on, then Mon..Sat, forecast into the weekend
    i = np.arange(n)
    day = i // m
    weekend = (day % 7) >= 5
    truth = 200.0 * np.where(weekend, 0.5, 1.0) * np.exp(0.3 * np.sin(2 * np.pi * i / m))
    y = truth * np.exp(np.random.default_rng(8).normal(0.0, 0.02, n))
    t = (i + 1) * step
    end = 26 * m  # after Friday of week 4: slots 26*48 .. are Saturday
    mstl = MSTLETS(max_horizon_s=12 * 3600.0)
    last = LastValue(max_horizon_s=12 * 3600.0)
    mstl.fit(t[:end], y[:end])
    last.fit(t[:end], y[:end])
    assert mstl.report["params"]["periods"] == "48,336"
    hs = [6 * 3600.0, 12 * 3600.0]
    want = truth[end - 1 + 12], truth[end - 1 + 24]
    got = mstl.predict(float(t[end - 1]), hs, [0.5])[0.5]
    assert all(abs(g / w - 1) < 0.1 for g, w in zip(got, want, strict=True))
    # Friday evening's level is twice Saturday's: the flat forecast is far off
    flat = last.predict(float(t[end - 1]), hs, [0.5])[0.5]
    assert abs(flat[1] / want[1] - 1) > 0.4
