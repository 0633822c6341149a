"""Empirical forecast-error quantiles per horizon, from a rolling-origin backtest.

Owns: the horizon step grid a backtest scores, and :class:`ResidualQuantiles`,
which turns backtest errors into quantile offsets.
Must not import: any I/O library (pure core).

Errors are taken on the log1p scale, ``log1p(actual) - log1p(point)``, so the
band widens with the level: a request rate's error at the daily peak is many
times its error at night, in proportion. A quantile forecast is
``expm1(log1p(point) + offset_q(h))``, so p50 also removes the point forecast's
median bias. Beyond the longest calibrated horizon the last row is reused,
which under-states the spread; forecasters report how far they are calibrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QUANTILE_GRID", "MIN_ERRORS", "horizon_steps", "ResidualQuantiles", "to_log", "from_log"]

QUANTILE_GRID = np.arange(1, 100) / 100.0
_BASE_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MIN_ERRORS = 8  # fewer errors than this at a horizon say nothing about a 90% band


def horizon_steps(max_steps: int) -> tuple[int, ...]:
    """A roughly geometric set of step counts up to ``max_steps`` (which is included)."""
    if max_steps < 1:
        raise ValueError("max_horizon_s: shorter than one step")
    steps = [s for s in _BASE_STEPS if s < max_steps]
    return (*steps, int(max_steps))


def to_log(x: np.ndarray | float) -> np.ndarray:
    return np.log1p(np.maximum(x, 0.0))


def from_log(z: np.ndarray | float) -> np.ndarray:
    return np.maximum(np.expm1(z), 0.0)


class ResidualQuantiles:
    """Quantiles of log1p-scale errors at a few horizons (in grid steps)."""

    def __init__(self, steps: tuple[int, ...], table: np.ndarray, counts: tuple[int, ...]) -> None:
        if len(steps) == 0 or table.shape != (len(steps), len(QUANTILE_GRID)):
            raise ValueError("residuals: table shape does not match steps")
        self.steps = tuple(int(s) for s in steps)
        self.table = np.asarray(table, dtype=float)
        self.counts = tuple(int(c) for c in counts)

    @staticmethod
    def from_backtest(steps: tuple[int, ...], forecasts: np.ndarray, actuals: np.ndarray) -> ResidualQuantiles | None:
        """``forecasts``/``actuals`` are [origin, step] arrays; NaN cells are skipped."""
        rows, kept, counts = [], [], []
        for j, k in enumerate(steps):
            f, a = forecasts[:, j], actuals[:, j]
            ok = np.isfinite(f) & np.isfinite(a)
            if np.count_nonzero(ok) < MIN_ERRORS:
                continue
            err = to_log(a[ok]) - to_log(f[ok])
            rows.append(np.quantile(err, QUANTILE_GRID))
            kept.append(k)
            counts.append(int(np.count_nonzero(ok)))
        if not rows:
            return None
        return ResidualQuantiles(tuple(kept), np.vstack(rows), tuple(counts))

    @property
    def max_step(self) -> int:
        return self.steps[-1]

    def offsets(self, k: np.ndarray, q: float) -> np.ndarray:
        """Offset of quantile ``q`` at horizons ``k`` (steps): linear between rows, clamped at the ends."""
        col = np.array([np.interp(q, QUANTILE_GRID, row) for row in self.table])
        return np.interp(np.asarray(k, dtype=float), np.asarray(self.steps, dtype=float), col)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "counts": list(self.counts),
            "table": [[round(float(v), 6) for v in row] for row in self.table],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ResidualQuantiles:
        return ResidualQuantiles(tuple(d["steps"]), np.asarray(d["table"], dtype=float), tuple(d["counts"]))
