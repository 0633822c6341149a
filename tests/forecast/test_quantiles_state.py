"""Quantile bands from backtest errors, and save/restore through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from controlplane.forecast.calibration import ResidualQuantiles, band_shift, horizon_steps
from controlplane.forecast.metrics import coverage
from controlplane.forecast.naive import LastValue
from controlplane.forecast.registry import FORECASTERS, from_state, make_forecaster
from controlplane.forecast.slot import ForecastSlot, fit_fresh
from tests.forecast.helpers import STEP, periodic


def test_p90_coverage_is_roughly_right_on_noise() -> None:
    # a flat 100 with N(0, 10) noise: any p90 should sit near 100 + 1.28 x 10 = 112.8
    # and cover ~90% of fresh draws
    rng = np.random.default_rng(7)
    n = 1500
    t = (np.arange(n) + 1) * 60.0
    y = 100.0 + rng.normal(0, 10, n)
    f = make_forecaster("holt_damped", max_horizon_s=300.0)
    f.fit(t[:1000], y[:1000])
    _, qs = f.rolling(t[1000:], y[1000:], [60.0], [0.5, 0.9])
    actual = np.append(y[1001:], np.nan)
    cov = coverage(qs[0.9][:, 0], actual)
    assert 0.84 <= cov <= 0.96, cov
    assert 108 < float(np.nanmedian(qs[0.9][:, 0])) < 118
    assert 96 < float(np.nanmedian(qs[0.5][:, 0])) < 104


def test_horizon_steps_are_geometric_and_end_at_the_max() -> None:
    assert horizon_steps(36) == (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 36)
    assert horizon_steps(1) == (1,)
    with pytest.raises(ValueError, match="^max_horizon_s:"):
        horizon_steps(0)


def test_residual_quantiles_interpolate_between_horizons() -> None:
    # shift c = 1: errors log(a + 1) - log(f + 1) are always +0.1 at 1 step, +0.3 at 4 steps
    fc = np.full((20, 2), np.expm1(1.0))
    act = np.column_stack([np.full(20, np.expm1(1.1)), np.full(20, np.expm1(1.3))])
    rq = ResidualQuantiles.from_backtest((1, 4), fc, act, shift=1.0)
    assert rq is not None
    # 2 steps lies a third of the way from 1 to 4: 0.1 + (0.3 - 0.1) / 3
    assert rq.offsets(np.array([1, 2, 4, 10]), 0.9) == pytest.approx([0.1, 0.1 + 0.2 / 3, 0.3, 0.3])
    # the band undoes the shift: p90 of a point 99 at 4 steps is 100 e^0.3 - 1
    assert rq.band(np.array([99.0]), np.array([4]), 0.9)[0] == pytest.approx(100 * np.exp(0.3) - 1)
    assert ResidualQuantiles.from_backtest((1,), fc[:3, :1], act[:3, :1]) is None  # too few errors


def test_band_shift_keeps_a_burst_after_an_empty_bucket_from_blowing_up_the_band() -> None:
    # level ~5,000 tokens/s with one bucket at 10 followed by 5,000: with c = 1 that error is
    # log(5001 / 11) = 6.1 on the log scale; with c = half the mean (~2,500) it is log(7500 / 2510) = 1.1
    assert band_shift(np.array([4000.0, 6000.0, np.nan])) == 2500.0
    assert band_shift(np.array([0.0, np.nan])) == 1.0
    fc = np.full((20, 1), 10.0)
    act = np.full((20, 1), 5000.0)
    wide = ResidualQuantiles.from_backtest((1,), fc, act, shift=1.0)
    tame = ResidualQuantiles.from_backtest((1,), fc, act, shift=2500.0)
    assert wide is not None and tame is not None
    assert wide.offsets(np.array([1]), 0.9)[0] == pytest.approx(np.log(5001 / 11))
    assert tame.offsets(np.array([1]), 0.9)[0] == pytest.approx(np.log(7500 / 2510))


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_state_round_trip_gives_the_same_forecasts(name: str) -> None:
    t, y = periodic(days=9, noise=5.0, seed=4)
    y = y.copy()
    y[300:310] = np.nan
    f = make_forecaster(name, max_horizon_s=6 * 3600.0)
    f.fit(t, y)
    restored = from_state(json.loads(json.dumps(f.to_state(), allow_nan=False)))
    hs, qs = [600.0, 3600.0, 6 * 3600.0], [0.1, 0.5, 0.9]
    a, b = f.predict(t[-1], hs, qs), restored.predict(t[-1], hs, qs)
    for q in qs:
        assert b[q] == pytest.approx(a[q], rel=1e-5)
    # both keep going the same way on new data
    nt, ny = t[-1] + STEP * np.arange(1, 4), [250.0, np.nan, 260.0]
    assert restored.updated(nt, ny).predict(nt[-1], hs, [0.5])[0.5] == pytest.approx(
        f.updated(nt, ny).predict(nt[-1], hs, [0.5])[0.5], rel=1e-5)


@pytest.mark.parametrize(
    ("state", "field"),
    [({"version": 2}, "state.version"), ({"version": 1, "class": "Nope"}, "state.class"), ([], "state")],
    ids=["version", "class", "not-a-mapping"],
)
def test_bad_state_is_rejected_naming_the_field(state, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=f"^{field}:"):
        from_state(state)


def test_slot_swaps_whole_fitted_forecasters_only() -> None:
    slot = ForecastSlot()
    assert slot.current() is None and slot.to_state() is None
    old = fit_fresh(LastValue, [60, 120], [1.0, 2.0])
    slot.swap(old)
    ticks = iter([10.0, 12.5])  # a fake monotonic clock: the fit "took" 2.5 s
    new = fit_fresh(LastValue, [60, 120, 180], [1.0, 2.0, 3.0], monotonic=lambda: next(ticks))
    assert new.report["fit_seconds_total"] == 2.5
    slot.swap(new)
    assert slot.current() is new and slot.generation == 2
    assert old.predict(120, [60], [0.5])[0.5] == pytest.approx([2.0])  # the old object was never touched
    with pytest.raises(ValueError, match="^forecaster:"):
        slot.swap(LastValue())
    again = ForecastSlot.from_state(json.loads(json.dumps(slot.to_state())))
    assert again.current() is not None and again.current().t_last == 180  # type: ignore[union-attr]


def test_no_forecast_module_below_the_registry_imports_it() -> None:
    # the registry imports every model; a model (the selector, the ensemble) that imported the
    # registry back, even inside a function, would be an import cycle
    import ast
    from pathlib import Path

    import controlplane.forecast as pkg

    root = Path(pkg.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        if path.name in ("registry.py", "slot.py", "__init__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {m}" for m in mods if m.endswith("forecast.registry")]
    assert not offenders


def test_auto_state_restores_through_the_base_module() -> None:
    from controlplane.forecast.base import restore_state

    t, y = periodic(days=3, noise=3.0, seed=2)
    auto = make_forecaster("auto", max_horizon_s=3600.0)
    auto.fit(t, y)
    back = restore_state(json.loads(json.dumps(auto.to_state())))
    want = auto.predict(float(t[-1]), [600.0, 3600.0], [0.5, 0.9])
    got = back.predict(float(t[-1]), [600.0, 3600.0], [0.5, 0.9])
    for q in (0.5, 0.9):
        assert got[q] == pytest.approx(want[q], rel=1e-5)


def _turns_volatile(seed: int, level: float, before: tuple[int, float], after: tuple[int, float],
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Minute samples around ``level``: ``before[0]`` with noise sd ``before[1]``, then ``after``."""
    rng = np.random.default_rng(seed)
    t = (np.arange(before[0] + after[0]) + 1) * 60.0
    y = level + np.concatenate([rng.normal(0, before[1], before[0]), rng.normal(0, after[1], after[0])])
    return t, y


def test_bands_follow_a_series_that_turns_more_volatile_after_the_fit() -> None:
    # fitted on N(0, 5) noise around 100, then scored where the noise is N(0, 20): bands that
    # stayed as fitted would cover about 25 % (1.28 x 5 / 20 standard deviations); the settled
    # errors of the new span widen them, and over the second half they cover near 90 %
    t, y = _turns_volatile(3, 100.0, (1000, 5.0), (1600, 20.0))
    f = make_forecaster("last_value", max_horizon_s=300.0)
    f.fit(t[:1000], y[:1000])
    fixed = f.residuals
    _, qs = f.rolling(t[1000:], y[1000:], [60.0], [0.9])
    actual = np.append(y[1001:], np.nan)
    late = slice(800, None)
    assert 0.84 <= coverage(qs[0.9][late, 0], actual[late]) <= 0.96
    assert f.residuals is fixed  # rolling scores; it does not change the forecaster


def test_updated_settles_errors_like_rolling_and_survives_a_restart() -> None:
    # the live path (updated, one observation at a time, with a JSON restart midway) ends
    # with the same bands as one rolling pass over the same observations
    t, y = _turns_volatile(5, 50.0, (1000, 2.0), (400, 8.0))
    f = make_forecaster("mean_reverting", max_horizon_s=600.0)
    f.fit(t[:1000], y[:1000])
    live = f
    for i in range(1000, 1400):
        live = live.updated(t[i:i + 1], y[i:i + 1])
        if i == 1200:
            live = from_state(json.loads(json.dumps(live.to_state())))
    _, qs = f.rolling(t[1000:], y[1000:], [60.0, 600.0], [0.9])
    p90 = live.predict(float(t[-1]), [60.0, 600.0], [0.9])[0.9]
    assert p90 == pytest.approx([qs[0.9][-1, 0], qs[0.9][-1, 1]], rel=1e-4)
    assert live.residuals is not None and f.residuals is not None
    assert live.residuals.offsets(np.array([1]), 0.9)[0] > 2 * f.residuals.offsets(np.array([1]), 0.9)[0]
