"""A daily profile rescaled to the recent level, with the newest deviation decaying.

Owns: :class:`ProfileLevel` -- today's shape at this week's level. On
``z = log1p(y)``, with ``S`` the daily profile (phase ``p`` of the day):

    x_t    = z_t - w S[p(t)]                      (the series without its daily shape)
    L_t    = L_{t-1} + a (x_t - L_{t-1})          (the level, an EWMA of x)
    d_t    = x_t - L_t                            (how far the newest slot sits off it)
    zhat_{t+k} = L_t + w S[p(t+k)] + phi^k d_t

The profile is the median, per phase, of ``z`` minus its centred one-day
moving average over the estimation window (so a level that drifts over the
week does not leak into the shape), smoothed over neighbouring phases and
centred on 0. A multiplicative season on the rate is an additive one on
``z``, so the shape scales with the level. ``w`` (0, 1/2 or 1: how much of the
shape to trust), the level's half-life and ``phi`` are chosen on the
estimation window by the smallest mean absolute error of ``z`` over the
calibrated horizons. With ``w = 0`` this is :class:`~controlplane.forecast.reverting.MeanReverting`;
with ``phi = 0`` and a short half-life, a level-corrected seasonal naive. A
missing slot leaves the level alone and lets the deviation decay as forecast.
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlplane.forecast.base import NotApplicable, StateModel
from controlplane.forecast.calibration import horizon_steps
from controlplane.forecast.naive import DAY_S
from controlplane.forecast.series import fill_for_estimation, season_steps

__all__ = ["ProfileLevel", "daily_profile"]

_PHI_GRID = 1.0 - np.geomspace(0.7, 2e-3, 24)
_WEIGHTS = (0.0, 0.5, 1.0)
_HALF_LIVES_DAYS = (0.125, 0.5, 2.0, 8.0)


def daily_profile(z: np.ndarray, m: int) -> np.ndarray:
    """Shape of ``z`` over a season of ``m`` slots, phase 0 = the slot after ``z``'s last.

    Per phase, the median of ``z`` less its centred ``m``-slot moving average;
    smoothed with a circular moving average over ``~m/24`` slots (an hour of a day);
    mean 0. NaN-free input expected (see :func:`fill_for_estimation`).
    """
    n = len(z)
    if n < 2 * m:
        raise ValueError(f"y: the profile needs two seasons ({2 * m} slots), has {n}")
    kernel = np.ones(m) / m
    trend = np.convolve(z, kernel, mode="valid")  # trend[j] is the mean of z[j : j + m]
    centre = np.full(n, np.nan)
    off = m // 2
    centre[off: off + len(trend)] = trend
    resid = z - centre
    phase = (np.arange(n) - n) % m
    prof = np.zeros(m)
    for p in range(m):
        vals = resid[phase == p]
        vals = vals[np.isfinite(vals)]
        prof[p] = float(np.median(vals)) if len(vals) else 0.0
    width = max(1, m // 24) | 1  # odd
    if width > 1:
        padded = np.concatenate([prof[-(width // 2):], prof, prof[: width // 2]])
        prof = np.convolve(padded, np.ones(width) / width, mode="valid")
    return prof - prof.mean()


class ProfileLevel(StateModel):
    """Daily profile at the recent level plus a decaying deviation; see the module docstring."""

    name = "profile_level"

    def __init__(self, season_s: float = DAY_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not season_s > 0:
            raise ValueError("season_s: must be > 0")
        self.season_s = float(season_s)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "season_s": self.season_s}

    def _m(self, step_s: float) -> int:
        m = season_steps(self.season_s, step_s)
        if m is None:
            raise NotApplicable(f"{self.name}: season {self.season_s:g}s is not a whole number of {step_s:g}s slots")
        return m

    def min_head(self, step_s: float) -> int:
        return 2 * self._m(step_s) + 4

    def cost_hint_s(self, n: int, step_s: float) -> float:
        return 2.0e-5 * n * len(_WEIGHTS) * len(_HALF_LIVES_DAYS)  # python EWMA loops dominate

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        m = self._m(step_s)
        z = np.log1p(np.maximum(fill_for_estimation(head, m), 0.0))
        prof = daily_profile(z, m)
        n = len(z)
        phase = (np.arange(n) - n) % m
        ks = np.asarray(horizon_steps(max(1, math.ceil(self.max_horizon_s / step_s - 1e-9))))
        ks = ks[ks < n - m]
        start = m  # the first day warms the level up
        best = (math.inf, 0.0, 1.0, 0.0)
        for w in _WEIGHTS:
            x = z - w * prof[phase]
            for hl_days in _HALF_LIVES_DAYS:
                a = 1.0 - 0.5 ** (1.0 / max(1.0, hl_days * self.season_s / step_s))
                lvl = np.empty(n)
                cur = float(x[:m].mean())
                for i, v in enumerate(x):
                    cur += a * (v - cur)
                    lvl[i] = cur
                dev = x - lvl
                errs = []
                for k in ks:
                    o = np.arange(start, n - k)
                    base = lvl[o] + w * prof[phase[o + k]] - z[o + k]
                    # [phi, origin] absolute errors; mean over origins
                    errs.append(np.mean(np.abs(base[None, :] + (_PHI_GRID[:, None] ** k) * dev[o][None, :]), axis=1))
                score = np.mean(np.vstack(errs), axis=0)
                j = int(np.argmin(score))
                if score[j] < best[0]:
                    best = (float(score[j]), w, a, float(_PHI_GRID[j]))
        _, w, a, phi = best
        return {"m": m, "w": w, "a": a, "phi": phi, "profile": prof * w,
                "half_life_s": round(step_s * math.log(0.5) / math.log(1.0 - a), 1)}

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        m = int(params["m"])
        z = np.log1p(np.maximum(fill_for_estimation(head, m), 0.0))
        prof = params["profile"]
        n = len(z)
        x = z - prof[(np.arange(n) - n) % m]
        state: dict[str, Any] = {"level": float(x[:m].mean()), "dev": 0.0, "pos": 0}
        for v in x:
            state["level"] += params["a"] * (v - state["level"])
        state["dev"] = float(x[-1] - state["level"])
        return state

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        pos = int(state["pos"])
        if math.isfinite(y):
            x = math.log1p(max(y, 0.0)) - float(params["profile"][pos])
            state["level"] += params["a"] * (x - state["level"])
            state["dev"] = x - state["level"]
        else:
            state["dev"] *= params["phi"]
        state["pos"] = (pos + 1) % int(params["m"])

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        m = int(params["m"])
        k = np.asarray(ks)
        z = state["level"] + params["profile"][(int(state["pos"]) + k - 1) % m] + params["phi"] ** k.astype(float) * state["dev"]
        return np.maximum(np.expm1(z), 0.0)
