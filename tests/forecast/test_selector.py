"""The auto selector: backtest choice, the fit budget (a fake clock, never wall time), skips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from controlplane.forecast.budget import FitBudget
from controlplane.forecast.naive import LastValue, SeasonalNaive
from controlplane.forecast.selector import AutoForecaster
from tests.forecast.helpers import periodic


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class SlowModel(LastValue):
    """A last-value model that claims a cost and advances the fake clock by it when fitted."""

    def __init__(self, label: str, cost: float, clock: FakeClock, **kw: Any) -> None:
        super().__init__(**kw)
        self.label, self.cost, self.clock = label, cost, clock

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    def cost_hint_s(self, n: int, step_s: float) -> float:
        return self.cost

    def fit_grid(self, grid, split):  # type: ignore[no-untyped-def]
        self.clock.t += self.cost
        return super().fit_grid(grid, split)


def test_budget_skips_the_model_that_would_overrun_it() -> None:
    # budget 10 s: "a" (4 s) fits, leaving 6; "b" (8 s) is skipped; "c" (5 s) still fits, leaving 1
    clock = FakeClock()
    t, y = periodic(days=2, noise=1.0)
    auto = AutoForecaster(
        budget=FitBudget(10.0, clock),
        candidates=lambda: [SlowModel("a", 4.0, clock), SlowModel("b", 8.0, clock), SlowModel("c", 5.0, clock)],
    )
    auto.fit(t, y)
    rep = auto.report
    assert set(rep["fit_seconds"]) == {"a", "c"}
    assert rep["skipped"] == {"b": "budget: 6.00s left, needs ~8.00s"}
    assert rep["total_fit_seconds"] == 9.0 and rep["budget_s"] == 10.0


def test_free_baselines_still_run_when_the_budget_is_spent() -> None:
    clock = FakeClock()
    budget = FitBudget(1.0, clock)
    t, y = periodic(days=2)
    auto = AutoForecaster(budget=budget, candidates=lambda: [SlowModel("slow", 1.0, clock), LastValue(),
                                                             SlowModel("later", 0.5, clock)])
    auto.fit(t, y)
    # "slow" uses the whole second; last_value costs 0 and runs; "later" is skipped
    assert set(auto.report["fit_seconds"]) == {"slow", "last_value"}
    assert "later" in auto.report["skipped"]
    assert auto.chosen is not None


def test_budget_needs_a_clock() -> None:
    with pytest.raises(ValueError, match="^monotonic:"):
        FitBudget(5.0)
    with pytest.raises(ValueError, match="^budget_s:"):
        FitBudget(0.0, FakeClock())
    assert FitBudget().remaining() == float("inf")


def test_selector_picks_a_seasonal_model_on_a_seasonal_series() -> None:
    t, y = periodic(days=5, noise=4.0, seed=5)
    auto = AutoForecaster(seasons_s=(86400.0,))
    auto.fit(t, y)
    rep = auto.report
    assert rep["validation_mae"]["last_value"] > 3 * rep["validation_mae"]["seasonal_naive_daily"]
    assert any(s in rep["chosen"] for s in ("holt_winters", "stl_ets", "seasonal_naive", "profile_level", "mstl_ets",
                                            "boosted_quantile"))
    assert "last_value" not in rep["chosen"]


def test_seasons_longer_than_the_history_are_skipped_with_a_reason() -> None:
    # 57 minutes of 30 s slots: neither a daily nor a weekly season fits
    n = 114
    t = (np.arange(n) + 1) * 30.0
    y = 50 + np.random.default_rng(1).normal(0, 5, n)
    auto = AutoForecaster(max_horizon_s=300.0)
    auto.fit(t, y)
    skipped = auto.report["skipped"]
    assert {"seasonal_naive_daily", "seasonal_naive_weekly", "holt_winters_daily", "stl_ets_daily"} <= set(skipped)
    assert "needs 2880 slots" in skipped["seasonal_naive_daily"]
    assert "profile_level" in skipped and "mstl_ets" in skipped
    chosen = auto.report["chosen"]
    assert not any(s in chosen for s in ("seasonal", "daily", "weekly", "profile", "mstl"))


def test_nothing_fittable_is_an_error_naming_y() -> None:
    auto = AutoForecaster(candidates=lambda: [SeasonalNaive()])
    with pytest.raises(ValueError, match="^y: no forecaster could be fitted"):
        auto.fit([60.0, 120.0, 180.0], [1.0, 2.0, 3.0])


def test_combination_weights_pick_the_right_member_per_horizon() -> None:
    from controlplane.forecast.base import Backtest
    from controlplane.forecast.selector import combination_weights

    rng = np.random.default_rng(3)
    act = rng.normal(100, 10, (50, 2))
    good_short = act + np.column_stack([np.zeros(50), rng.normal(0, 5, 50)])
    good_long = act + np.column_stack([rng.normal(0, 5, 50), np.zeros(50)])
    w = combination_weights([Backtest((1, 6), good_short, act), Backtest((1, 6), good_long, act)])
    assert w.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    # two members with independent errors of the same size: an even mix beats either
    a, b = act + rng.normal(0, 5, (50, 2)), act + rng.normal(0, 5, (50, 2))
    w2 = combination_weights([Backtest((1, 6), a, act), Backtest((1, 6), b, act)])
    assert np.all((w2 > 0.2) & (w2 < 0.8))
