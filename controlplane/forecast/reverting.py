"""Mean reversion: the latest deviation from a trailing mean decays geometrically.

Owns: :class:`MeanReverting`, an AR(1) on the deviation of log1p(y) from its
exponentially weighted trailing mean (half-life ``mean_half_life_s``, a day by
default):

    mu_t   = mu_{t-1} + w (z_t - mu_{t-1}),   w = 1 - 0.5^(1 / half-life in slots)
    zhat_{t+k} = mu_t + phi^k (z_t - mu_t)

``phi`` and the mean's half-life (a quarter, one or four times
``mean_half_life_s``) are chosen on the estimation window by the smallest
mean absolute log error over the calibrated horizons -- a one-step
regression would fit the fast noise and under-state how long a level lasts. Short horizons follow the last
value; long ones relax to the recent mean, which suits demand that wanders
around a level without a repeatable daily shape (the ServeGen m-large
aggregate, as ``controlplane bench forecast`` shows). A missing slot lets the
deviation decay as forecast.
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlplane.forecast.base import StateModel
from controlplane.forecast.calibration import horizon_steps

__all__ = ["MeanReverting"]

# 1 - phi from 0.5 down to 1e-4, log-spaced: decay half-lives from 1 slot to ~7,000 slots
_PHI_GRID = 1.0 - np.geomspace(0.5, 1e-4, 40)


class MeanReverting(StateModel):
    name = "mean_reverting"

    def __init__(self, mean_half_life_s: float = 86400.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not mean_half_life_s > 0:
            raise ValueError("mean_half_life_s: must be > 0")
        self.mean_half_life_s = float(mean_half_life_s)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "mean_half_life_s": self.mean_half_life_s}

    def min_head(self, step_s: float) -> int:
        return 12

    def _trail(self, z: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
        """Trailing mean after each slot, and the deviation from it (NaN where z is missing)."""
        mu = np.empty(len(z))
        finite = z[np.isfinite(z)]
        m = float(finite[: max(1, min(len(finite), round(math.log(0.5) / math.log(1.0 - w))))].mean())
        for i, v in enumerate(z):
            if math.isfinite(v):
                m += w * (v - m)
            mu[i] = m
        return mu, z - mu

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        z = np.log1p(np.maximum(head, 0.0))
        ks = np.asarray(horizon_steps(max(1, math.ceil(self.max_horizon_s / step_s - 1e-9))))
        ks = ks[ks < len(z) // 2] if np.any(ks < len(z) // 2) else ks[:1]
        best = (math.inf, 0.0, 0.0)
        for half_life in (self.mean_half_life_s / 4, self.mean_half_life_s, self.mean_half_life_s * 4):
            w = 1.0 - 0.5 ** (step_s / half_life)
            mu, dev = self._trail(z, w)
            for phi in _PHI_GRID:
                err = [np.nanmean(np.abs(z[k:] - mu[:-k] - phi**k * dev[:-k])) for k in ks if k < len(z)]
                score = float(np.mean(err)) if err else math.inf
                if score < best[0]:
                    best = (score, w, float(phi))
        return {"w": best[1] or 1.0 - 0.5 ** (step_s / self.mean_half_life_s), "phi": best[2],
                "half_life_s": round(step_s / math.log2(1.0 / (1.0 - (best[1] or 0.5))), 1)}

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"mu": math.nan, "dev": 0.0}
        z = np.log1p(np.maximum(head, 0.0))
        finite = z[np.isfinite(z)]
        n0 = max(1, min(len(finite), int(round(math.log(0.5) / math.log(1.0 - params["w"])))))
        state["mu"] = float(finite[:n0].mean())
        for v in head:
            self._update(state, params, float(v))
        return state

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        if math.isfinite(y):
            z = math.log1p(max(y, 0.0))
            state["mu"] += params["w"] * (z - state["mu"])
            state["dev"] = z - state["mu"]
        else:
            state["dev"] *= params["phi"]

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        z = state["mu"] + params["phi"] ** np.asarray(ks, dtype=float) * state["dev"]
        return np.maximum(np.expm1(z), 0.0)
