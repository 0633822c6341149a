"""Exponential smoothing forecasters: Holt-Winters (ETS A,Ad,A) and STL + damped Holt.

Owns: :class:`HoltWinters` (additive damped trend, optional additive season;
without a season it is damped Holt, the short-horizon model for minutes-scale
series) and :class:`STLETS` (STL decomposition, damped Holt on the seasonally
adjusted series, the season carried forward unchanged -- the model statsmodels'
``STLForecast`` builds with an ETS model).
Must not import: any I/O library (pure core).

statsmodels estimates the parameters; the state recursions (Hyndman &
Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., section 8.3,
the form statsmodels' ``ExponentialSmoothing`` uses) run here so that a fitted
model can be saved as a handful of numbers, restarted, and fed new
observations without re-estimating:

    l_t = a (y_t - s_{t-m}) + (1 - a)(l_{t-1} + phi b_{t-1})
    b_t = b* (l_t - l_{t-1}) + (1 - b*) phi b_{t-1}
    s_t = g (y_t - l_{t-1} - phi b_{t-1}) + (1 - g) s_{t-m}
    yhat_{t+k} = l_t + (phi + ... + phi^k) b_t + s_{t+k-m(floor((k-1)/m)+1)}

A missing y_t leaves the state coasting: l_t = l_{t-1} + phi b_{t-1}, b_t =
phi b_{t-1}, the season unchanged. With ``log`` the model runs on log1p(y),
which makes the daily swing proportional to the level (a multiplicative season)
and keeps forecasts non-negative.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from controlplane.forecast.base import NotApplicable, StateModel
from controlplane.forecast.naive import DAY_S, WEEK_S
from controlplane.forecast.series import fill_for_estimation, season_steps

__all__ = ["HoltWinters", "STLETS"]


def _fit_quietly(fn: Any) -> tuple[Any, list[str]]:
    """Run a statsmodels fit, keeping its warnings (convergence...) for the report."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, sorted({f"{w.category.__name__}: {w.message}"[:160] for w in caught})


def _season_name(season_s: float) -> str:
    return {DAY_S: "daily", WEEK_S: "weekly"}.get(season_s, f"{season_s:g}s")


def _damped_sum(phi: float, ks: np.ndarray) -> np.ndarray:
    k = np.asarray(ks, dtype=float)
    if phi >= 1.0:
        return k
    return phi * (1.0 - phi**k) / (1.0 - phi)


class _Smoothing(StateModel):
    """Shared state handling of the two smoothing models (level, trend, season ring)."""

    def __init__(self, season_s: float | None = DAY_S, log: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if season_s is not None and not season_s > 0:
            raise ValueError("season_s: must be > 0 or None")
        self.season_s = season_s
        self.log = bool(log)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "season_s": self.season_s, "log": self.log}

    def _m(self, step_s: float) -> int:
        if self.season_s is None:
            return 0
        m = season_steps(self.season_s, step_s)
        if m is None:
            raise NotApplicable(f"{self.name}: season {self.season_s:g}s is not a whole number of {step_s:g}s slots")
        return m

    def _z(self, y: np.ndarray | float) -> Any:
        return np.log1p(np.maximum(y, 0.0)) if self.log else y

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        a, b_, g, phi = params["alpha"], params["beta"], params["gamma"], params["phi"]
        m = int(params["m"])
        lvl, tr = state["level"], state["trend"]
        pos = int(state["pos"])
        s_old = float(state["season"][pos]) if m else 0.0
        if math.isfinite(y):
            z = float(self._z(y))
            new_l = a * (z - s_old) + (1 - a) * (lvl + phi * tr)
            state["trend"] = b_ * (new_l - lvl) + (1 - b_) * phi * tr
            if m and g > 0:
                state["season"][pos] = g * (z - lvl - phi * tr) + (1 - g) * s_old
            state["level"] = new_l
        else:
            state["level"] = lvl + phi * tr
            state["trend"] = phi * tr
        if m:
            state["pos"] = (pos + 1) % m

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        m = int(params["m"])
        z = state["level"] + _damped_sum(params["phi"], ks) * state["trend"]
        if m:
            z = z + state["season"][(int(state["pos"]) + np.asarray(ks) - 1) % m]
        return np.maximum(np.expm1(z), 0.0) if self.log else np.asarray(z, dtype=float)

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        init = params.pop("_init")
        return init


class HoltWinters(_Smoothing):
    """ETS(A,Ad,A) on log1p(y) by default; ``season_s=None`` gives damped Holt."""

    @property
    def name(self) -> str:  # type: ignore[override]
        if self.season_s is None:
            return "holt_damped"
        return f"holt_winters_{_season_name(self.season_s)}"

    def cost_hint_s(self, n: int, step_s: float) -> float:
        # measured on one shared core: ~1 s for 1,008 slots with m=144, ~0.1 s without a season
        return (1.0e-3 if self._m(step_s) else 1.0e-4) * n

    def min_head(self, step_s: float) -> int:
        m = self._m(step_s)
        return 2 * m + 4 if m else 12  # statsmodels' heuristic start needs two full seasons

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        m = self._m(step_s)
        z = self._z(fill_for_estimation(head, m or None))
        model = ExponentialSmoothing(
            z, trend="add", damped_trend=True, seasonal="add" if m else None,
            seasonal_periods=m or None, initialization_method="heuristic" if m else "estimated",
        )
        res, caught = _fit_quietly(model.fit)
        p = res.params
        params: dict[str, Any] = {
            "m": m,
            "alpha": float(p["smoothing_level"]),
            "beta": float(p["smoothing_trend"]),
            "gamma": float(p.get("smoothing_seasonal", 0.0) or 0.0) if m else 0.0,
            "phi": float(p["damping_trend"]),
            "warnings": "; ".join(caught),
        }
        init: dict[str, Any] = {"level": float(res.level[-1]), "trend": float(res.trend[-1]), "pos": 0}
        init["season"] = np.asarray(res.season[-m:], dtype=float) if m else np.zeros(0)
        params["_init"] = init
        return params


class STLETS(_Smoothing):
    """STL (robust) season, carried forward; damped Holt on the adjusted series."""

    def __init__(self, season_s: float = DAY_S, log: bool = True, **kwargs: Any) -> None:
        super().__init__(season_s=season_s, log=log, **kwargs)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"stl_ets_{_season_name(self.season_s or 0.0)}"

    def cost_hint_s(self, n: int, step_s: float) -> float:
        return 1.0e-3 * n  # robust STL dominates: ~0.8 s for 1,008 slots on one shared core

    def min_head(self, step_s: float) -> int:
        return 2 * self._m(step_s) + 4

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
        from statsmodels.tsa.seasonal import STL

        m = self._m(step_s)
        z = self._z(fill_for_estimation(head, m))
        stl, caught_stl = _fit_quietly(lambda: STL(z, period=m, robust=True).fit())
        seasonal = np.asarray(stl.seasonal, dtype=float)
        adjusted = z - seasonal
        model = ExponentialSmoothing(adjusted, trend="add", damped_trend=True, initialization_method="estimated")
        res, caught = _fit_quietly(model.fit)
        p = res.params
        params: dict[str, Any] = {
            "m": m,
            "alpha": float(p["smoothing_level"]),
            "beta": float(p["smoothing_trend"]),
            "gamma": 0.0,  # the STL season is held fixed until the next fit
            "phi": float(p["damping_trend"]),
            "warnings": "; ".join(caught_stl + caught),
        }
        params["_init"] = {"level": float(res.level[-1]), "trend": float(res.trend[-1]), "pos": 0,
                           "season": seasonal[-m:].copy()}
        return params
