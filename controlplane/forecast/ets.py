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

__all__ = ["HoltWinters", "STLETS", "MSTLETS", "season_strength"]


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


def season_strength(seasonal: np.ndarray, remainder: np.ndarray) -> float:
    """max(0, 1 - Var(R) / Var(S + R)): 0 for no season, near 1 for a clean one.

    The strength measure of Wang, Smith and Hyndman (2006) and *Forecasting:
    Principles and Practice* (3rd ed., section 4.3).
    """
    total = float(np.var(seasonal + remainder))
    return 0.0 if total <= 0 else max(0.0, 1.0 - float(np.var(remainder)) / total)


def _scaled_season(seasonal: np.ndarray, resid: np.ndarray, m: int) -> tuple[np.ndarray, float]:
    """The last cycle of a decomposed season, scaled by its strength.

    A decomposition always returns a season; on a series without one it is noise
    that, carried forward, adds to every forecast's error (the defect that made
    STL + ETS lose to last value at 10 min on ServeGen m-large). Scaling by the
    strength keeps a clean season and drops an absent one.
    """
    strength = season_strength(seasonal, resid)
    return seasonal[-m:].copy() * strength, strength


class STLETS(_Smoothing):
    """STL (robust) season, scaled by its strength and carried forward; damped Holt on the adjusted series."""

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
        from statsmodels.tsa.seasonal import STL

        m = self._m(step_s)
        z = self._z(fill_for_estimation(head, m))
        stl, caught_stl = _fit_quietly(lambda: STL(z, period=m, robust=True).fit())
        season, strength = _scaled_season(np.asarray(stl.seasonal, dtype=float),
                                                np.asarray(stl.resid, dtype=float), m)
        return _damped_on_adjusted(z, np.asarray(stl.seasonal, dtype=float) * strength, season, m,
                                   {"season_strength": round(strength, 4)}, caught_stl)


def _damped_on_adjusted(z: np.ndarray, seasonal: np.ndarray, season_ring: np.ndarray, m: int,
                        extra: dict[str, Any], caught_before: list[str]) -> dict[str, Any]:
    """Damped Holt (statsmodels) on ``z - seasonal``; the season ring held fixed until the next fit."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(z - seasonal, trend="add", damped_trend=True, initialization_method="estimated")
    res, caught = _fit_quietly(model.fit)
    p = res.params
    params: dict[str, Any] = {
        "m": m,
        "alpha": float(p["smoothing_level"]),
        "beta": float(p["smoothing_trend"]),
        "gamma": 0.0,
        "phi": float(p["damping_trend"]),
        **extra,
        "warnings": "; ".join(caught_before + caught),
    }
    params["_init"] = {"level": float(res.level[-1]), "trend": float(res.trend[-1]), "pos": 0,
                       "season": season_ring}
    return params


class MSTLETS(_Smoothing):
    """MSTL (statsmodels) with a daily and, given two weeks of history, a weekly season; damped Holt on the rest.

    Each season is scaled by its strength; their sum over the longest season used
    is the ring carried forward. With less than two weeks only the daily season is
    decomposed (MSTL needs two cycles of each period).
    """

    name = "mstl_ets"

    def __init__(self, seasons_s: tuple[float, ...] = (DAY_S, WEEK_S), log: bool = True, **kwargs: Any) -> None:
        super().__init__(season_s=min(seasons_s), log=log, **kwargs)
        self.seasons_s = tuple(float(x) for x in seasons_s)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.pop("season_s", None)
        return {**cfg, "seasons_s": list(self.seasons_s)}

    def cost_hint_s(self, n: int, step_s: float) -> float:
        return 1.5e-3 * n

    def _periods(self, n: int, step_s: float) -> list[int]:
        out = []
        for season in sorted(self.seasons_s):
            m = season_steps(season, step_s)
            if m is None:
                raise NotApplicable(f"{self.name}: season {season:g}s is not a whole number of {step_s:g}s slots")
            if 2 * m + 4 <= n:
                out.append(m)
        return out

    def min_head(self, step_s: float) -> int:
        m = season_steps(min(self.seasons_s), step_s)
        if m is None:
            raise NotApplicable(f"{self.name}: season {min(self.seasons_s):g}s is not a whole number of {step_s:g}s slots")
        return 2 * m + 4

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        from statsmodels.tsa.seasonal import MSTL

        periods = self._periods(len(head), step_s)
        if not periods:
            raise NotApplicable(f"{self.name}: needs two daily seasons of history")
        m = periods[-1]
        z = self._z(fill_for_estimation(head, periods[0]))
        res, caught = _fit_quietly(lambda: MSTL(z, periods=periods).fit())
        seas = np.asarray(res.seasonal, dtype=float).reshape(len(z), -1)
        resid = np.asarray(res.resid, dtype=float)
        ring = np.zeros(m)
        total = np.zeros(len(z))
        strengths = []
        for j, period in enumerate(periods):
            strength = season_strength(seas[:, j], resid)
            strengths.append(round(strength, 4))
            last = seas[-period:, j] * strength
            ring += np.tile(last, m // period + 1)[-m:] if m % period == 0 else np.resize(last, m)
            total += seas[:, j] * strength
        return _damped_on_adjusted(z, total, ring, m, {"periods": ",".join(map(str, periods)),
                                                        "season_strengths": ",".join(map(str, strengths))}, caught)
