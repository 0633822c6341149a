"""Empirical forecast-error quantiles per horizon, from a rolling-origin backtest.

Owns: the horizon step grid a backtest scores, and :class:`ResidualQuantiles`,
which turns backtest errors into quantile offsets.
Must not import: any I/O library (pure core).

Errors are taken on a shifted log scale, ``log(actual + c) - log(point + c)``,
so the band widens with the level: a request rate's error at the daily peak is
many times its error at night, in proportion. A quantile forecast is
``exp(log(point + c) + offset_q(h)) - c``, so p50 also removes the point
forecast's median bias. The shift ``c`` is half the series' mean level
(:func:`band_shift`): well above ``c`` errors scale with the level, near 0
they are additive -- without it, one burst after a near-empty bucket (a
log-ratio of 5 or more) would blow every band up by e^5. Beyond the longest calibrated horizon the last row is reused,
which under-states the spread; forecasters report how far they are calibrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QUANTILE_GRID", "MIN_ERRORS", "horizon_steps", "ResidualQuantiles", "band_shift"]

QUANTILE_GRID = np.arange(1, 100) / 100.0
_BASE_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MIN_ERRORS = 8  # fewer errors than this at a horizon say nothing about a 90% band


def horizon_steps(max_steps: int) -> tuple[int, ...]:
    """A roughly geometric set of step counts up to ``max_steps`` (which is included)."""
    if max_steps < 1:
        raise ValueError("max_horizon_s: shorter than one step")
    steps = [s for s in _BASE_STEPS if s < max_steps]
    return (*steps, int(max_steps))


def band_shift(values: np.ndarray) -> float:
    """Half the mean observed level (1.0 for a series never above 0)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    mean = float(np.mean(np.abs(v))) if len(v) else 0.0
    return 0.5 * mean if mean > 0 else 1.0


class ResidualQuantiles:
    """Quantiles of log1p-scale errors at a few horizons (in grid steps)."""

    def __init__(self, steps: tuple[int, ...], table: np.ndarray, counts: tuple[int, ...], shift: float = 1.0) -> None:
        if len(steps) == 0 or table.shape != (len(steps), len(QUANTILE_GRID)):
            raise ValueError("residuals: table shape does not match steps")
        if not shift > 0:
            raise ValueError("residuals.shift: must be > 0")
        self.steps = tuple(int(s) for s in steps)
        self.table = np.asarray(table, dtype=float)
        self.counts = tuple(int(c) for c in counts)
        self.shift = float(shift)

    def _log(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(x, 0.0) + self.shift)

    @staticmethod
    def from_backtest(steps: tuple[int, ...], forecasts: np.ndarray, actuals: np.ndarray,
                      shift: float = 1.0) -> ResidualQuantiles | None:
        """``forecasts``/``actuals`` are [origin, step] arrays; NaN cells are skipped."""
        probe = ResidualQuantiles((1,), np.zeros((1, len(QUANTILE_GRID))), (0,), shift)
        rows, kept, counts = [], [], []
        for j, k in enumerate(steps):
            f, a = forecasts[:, j], actuals[:, j]
            ok = np.isfinite(f) & np.isfinite(a)
            if np.count_nonzero(ok) < MIN_ERRORS:
                continue
            err = probe._log(a[ok]) - probe._log(f[ok])
            rows.append(np.quantile(err, QUANTILE_GRID))
            kept.append(k)
            counts.append(int(np.count_nonzero(ok)))
        if not rows:
            return None
        return ResidualQuantiles(tuple(kept), np.vstack(rows), tuple(counts), shift)

    @property
    def max_step(self) -> int:
        return self.steps[-1]

    def offsets(self, k: np.ndarray, q: float) -> np.ndarray:
        """Offset of quantile ``q`` at horizons ``k`` (steps): linear between rows, clamped at the ends."""
        col = np.array([np.interp(q, QUANTILE_GRID, row) for row in self.table])
        return np.interp(np.asarray(k, dtype=float), np.asarray(self.steps, dtype=float), col)

    def band(self, points: np.ndarray, k: np.ndarray, q: float) -> np.ndarray:
        """Quantile ``q`` around point forecasts at horizons ``k`` (steps); never below 0."""
        out = np.exp(self._log(points) + self.offsets(k, q)) - self.shift
        return np.maximum(out, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shift": self.shift,
            "steps": list(self.steps),
            "counts": list(self.counts),
            "table": [[round(float(v), 6) for v in row] for row in self.table],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ResidualQuantiles:
        return ResidualQuantiles(tuple(d["steps"]), np.asarray(d["table"], dtype=float), tuple(d["counts"]),
                                 float(d.get("shift", 1.0)))
