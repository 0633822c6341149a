"""The two baselines every forecast must beat: last value and seasonal naive.

Owns: :class:`LastValue` and :class:`SeasonalNaive` (daily or weekly season).
Must not import: any I/O library (pure core).

Seasonal naive forecasts the value one season before the target slot (for a
horizon longer than a season, the most recent slot in the same phase). A slot
that was missing keeps the value from the season before it; a phase never
observed falls back to the last observed value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from controlplane.forecast.base import NotApplicable, StateModel
from controlplane.forecast.series import season_steps

__all__ = ["LastValue", "SeasonalNaive", "DAY_S", "WEEK_S"]

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


def _last_finite(values: np.ndarray) -> float:
    ok = np.flatnonzero(np.isfinite(values))
    return float(values[ok[-1]]) if len(ok) else math.nan


class LastValue(StateModel):
    """The newest observed value, flat at every horizon."""

    name = "last_value"
    estimates = False

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        return {"last": _last_finite(head)}

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        if math.isfinite(y):
            state["last"] = y

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        return np.full(len(ks), state["last"], dtype=float)


class SeasonalNaive(StateModel):
    """The value one season (``season_s``, default a day) before the target."""

    estimates = False

    def __init__(self, season_s: float = DAY_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not season_s > 0:
            raise ValueError("season_s: must be > 0")
        self.season_s = float(season_s)

    @property
    def name(self) -> str:  # type: ignore[override]
        return "seasonal_naive_weekly" if self.season_s == WEEK_S else (
            "seasonal_naive_daily" if self.season_s == DAY_S else f"seasonal_naive_{int(self.season_s)}s")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "season_s": self.season_s}

    def min_head(self, step_s: float) -> int:
        m = season_steps(self.season_s, step_s)
        if m is None:
            raise NotApplicable(f"{self.name}: season {self.season_s:g}s is not a whole number of {step_s:g}s slots")
        return m

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        m = season_steps(self.season_s, step_s)
        assert m is not None
        return {"m": m}

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        m = int(params["m"])
        ring = np.full(m, np.nan)
        # ring[pos] holds the phase of the next slot; older seasons fill gaps in newer ones
        for i, v in enumerate(head):
            if math.isfinite(v):
                ring[(i - len(head)) % m] = v
        return {"ring": ring, "pos": 0, "last": _last_finite(head)}

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        pos = int(state["pos"])
        if math.isfinite(y):
            state["ring"][pos] = y
            state["last"] = y
        state["pos"] = (pos + 1) % int(params["m"])

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        m = int(params["m"])
        out = state["ring"][(int(state["pos"]) + np.asarray(ks) - 1) % m]
        return np.where(np.isfinite(out), out, state["last"])
