"""Gradient-boosted median forecasts on lags and calendar features, one model per horizon.

Owns: :class:`BoostedQuantile`. For each of a few horizons ``k`` (1, 2, 4, 8,
... slots up to the longest calibrated one) a scikit-learn
``HistGradientBoostingRegressor`` with quantile loss (q = 0.5) learns
``z_{t+k} - z_t`` on ``z = log1p(y)`` from features known at ``t``:

* the means of the last 3, 6, 12 and 36 slots and of the last day, less ``z_t``;
* the last step ``z_t - z_{t-1}`` and the level ``z_t`` itself;
* the same phase a day before the target, and what happened over the same ``k``
  slots a day earlier (``z_{t+k-m} - z_{t-m}``), when a day of history exists;
* the target's time of day (sine and cosine of its Unix time; UTC).

Features that the history cannot give (no day yet) are NaN, which the booster
handles natively. Horizons between two models interpolate their forecasts
linearly. Bands come from the shared backtest errors (conformal, per
horizon); the model itself only gives the median.

Hyperparameters are fixed here (``_HGB``), not tuned per series. The fitted
trees are not serialised: the JSON state keeps the estimation window, and a
restore refits from it (deterministic: fixed ``random_state``, no early stopping).
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from controlplane.forecast.base import StateModel, decode_array, encode_array
from controlplane.forecast.naive import DAY_S
from controlplane.forecast.series import Grid, fill_for_estimation, season_steps

__all__ = ["BoostedQuantile"]

_HGB: dict[str, Any] = {"loss": "quantile", "quantile": 0.5, "max_iter": 120, "learning_rate": 0.05,
                        "max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0,
                        "early_stopping": False, "random_state": 0}
_MEANS = (3, 6, 12, 36)
_N_FEATURES = len(_MEANS) + 7


def _model_steps(max_k: int) -> list[int]:
    out, k = [], 1
    while k < max_k:
        out.append(k)
        k *= 2
    return [*out, max_k]


def _features(buf: np.ndarray, t_end: float, step_s: float, m: int, k: int) -> np.ndarray:
    """Features at the end of ``buf`` (z values, newest last, NaN-free) for horizon ``k``."""
    f = np.full(_N_FEATURES, np.nan)
    n = len(buf)
    ref = buf[-1]
    for j, w in enumerate(_MEANS):
        f[j] = buf[-min(w, n):].mean() - ref
    j = len(_MEANS)
    f[j] = ref - buf[-2] if n >= 2 else np.nan
    f[j + 1] = ref
    if m and n >= m:
        f[j + 2] = buf[-m:].mean() - ref
        lag = m * math.ceil(k / m)  # the same phase as the target, a whole number of days back
        if lag - k < n:
            f[j + 3] = buf[n - 1 - (lag - k)] - ref
            if lag < n:
                f[j + 4] = buf[n - 1 - (lag - k)] - buf[n - 1 - lag]
    tod = 2 * math.pi * ((t_end + k * step_s) % DAY_S) / DAY_S
    f[j + 5], f[j + 6] = math.sin(tod), math.cos(tod)
    return f


class BoostedQuantile(StateModel):
    """Direct multi-horizon boosted median model; see the module docstring."""

    name = "boosted_quantile"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._models: dict[int, Any] = {}
        self._head: np.ndarray | None = None
        self._head_t_end = math.nan

    def min_head(self, step_s: float) -> int:
        return 96

    def cost_hint_s(self, n: int, step_s: float) -> float:
        # ~0.25 s per horizon model on 1,000 rows on one shared core
        steps = _model_steps(max(1, math.ceil(self.max_horizon_s / step_s - 1e-9)))
        return 2.5e-4 * n * len(steps)

    def _m(self, step_s: float) -> int:
        return season_steps(DAY_S, step_s) or 0

    def fit_grid(self, grid: Grid, split: int):  # type: ignore[no-untyped-def]
        self._head_t_end = grid.t0 + (split - 1) * grid.step_s
        return super().fit_grid(grid, split)

    def _train(self, z: np.ndarray, t_end: float, step_s: float) -> dict[int, Any]:
        from sklearn.ensemble import HistGradientBoostingRegressor

        m = self._m(step_s)
        n = len(z)
        window = m + 1 if m and n > 2 * m else min(n, 64)
        start = min(max(36, window // 4 if not m else min(m, n // 3)), n - 2)
        max_k = max(1, math.ceil(self.max_horizon_s / step_s - 1e-9))
        models: dict[int, Any] = {}
        for k in _model_steps(max_k):
            origins = np.arange(start, n - k)
            if len(origins) < 30:
                continue
            x = np.vstack([_features(z[max(0, i + 1 - window): i + 1], t_end - (n - 1 - i) * step_s, step_s, m, k)
                           for i in origins])
            target = z[origins + k] - z[origins]
            models[k] = HistGradientBoostingRegressor(**_HGB).fit(x, target)
        if not models:
            raise ValueError(f"{self.name}: history too short to train any horizon")
        return models

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        z = np.log1p(np.maximum(fill_for_estimation(head, self._m(step_s) or None), 0.0))
        self._head = np.asarray(head, dtype=float).copy()
        self._models = self._train(z, self._head_t_end, step_s)
        m = self._m(step_s)
        return {"m": m, "step_s": step_s, "window": m + 1 if m and len(z) > 2 * m else min(len(z), 64),
                "horizon_models": len(self._models)}

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        z = np.log1p(np.maximum(fill_for_estimation(head, int(params["m"]) or None), 0.0))
        return {"buf": z[-int(params["window"]):].copy(), "t": self._head_t_end}

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        buf = state["buf"]
        # a missing slot repeats the newest value in the lags (the booster never saw NaN lags)
        v = math.log1p(max(y, 0.0)) if math.isfinite(y) else float(buf[-1])
        state["buf"] = np.append(buf[1:] if len(buf) >= int(params["window"]) else buf, v)
        state["t"] = float(state["t"]) + float(params["step_s"])

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        return self._walk(copy.deepcopy(state), params, np.empty(0), ks)[0]

    def _walk(self, state: dict[str, Any], params: dict[str, Any], tail: np.ndarray, ks: np.ndarray) -> np.ndarray:
        """All origins at once: one ``predict`` per horizon model instead of one per origin."""
        buf, t0, step, m = state["buf"], float(state["t"]), float(params["step_s"]), int(params["m"])
        window = int(params["window"])
        z = list(buf)
        for y in tail:
            z.append(math.log1p(max(float(y), 0.0)) if math.isfinite(y) else z[-1])
        za = np.asarray(z, dtype=float)
        ends = len(buf) + np.arange(len(tail) + 1)  # exclusive end of each origin's window
        steps = sorted(self._models)
        deltas = np.empty((len(ends), len(steps)))
        for j, k in enumerate(steps):
            rows = np.vstack([_features(za[max(0, e - window): e], t0 + i * step, step, m, k)
                              for i, e in enumerate(ends)])
            deltas[:, j] = self._models[k].predict(rows)
        kf = np.asarray(ks, dtype=float)
        sf = np.asarray(steps, dtype=float)
        d = np.vstack([np.interp(kf, sf, row) for row in deltas])
        state["buf"] = za[-window:].copy()
        state["t"] = t0 + len(tail) * step
        return np.maximum(np.expm1(za[ends - 1][:, None] + d), 0.0)

    def _model_state(self) -> dict[str, Any]:
        base = super()._model_state()
        assert self._head is not None
        return {**base, "head": encode_array(self._head), "head_t_end": self._head_t_end}

    def _restore_model(self, d: dict[str, Any]) -> None:
        super()._restore_model(d)
        self._head = decode_array(d["head"])
        self._head_t_end = float(d["head_t_end"])
        step = float(self._fit.params["step_s"])
        z = np.log1p(np.maximum(fill_for_estimation(self._head, self._m(step) or None), 0.0))
        self._models = self._train(z, self._head_t_end, step)
