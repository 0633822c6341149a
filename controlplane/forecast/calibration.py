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

The offsets come from the newest :data:`RECENT_ERRORS` errors per horizon, and
:meth:`ResidualQuantiles.extended` adds the errors of forecasts whose targets have
since been observed (rolling conformal calibration): a series that turns more
volatile than its backtest widens its bands within a few hundred forecasts
instead of under-covering until the next fit. 256 errors put a p90 estimate
within about 2 points (binomial standard error sqrt(0.9 x 0.1 / 256)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QUANTILE_GRID", "MIN_ERRORS", "RECENT_ERRORS", "horizon_steps", "ResidualQuantiles", "band_shift"]

QUANTILE_GRID = np.arange(1, 100) / 100.0
_BASE_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MIN_ERRORS = 8  # fewer errors than this at a horizon say nothing about a 90% band
RECENT_ERRORS = 256  # errors kept per horizon; the bands follow the newest ones


def horizon_steps(max_steps: int) -> tuple[int, ...]:
    """A roughly geometric set of step counts up to ``max_steps`` (which is included)."""
    if max_steps < 1:
        raise ValueError("max_horizon_s: shorter than one step")
    steps = [s for s in _BASE_STEPS if s < max_steps]
    return (*steps, int(max_steps))


def _shifted_log(x: np.ndarray | float, shift: float) -> np.ndarray:
    """``log(max(x, 0) + shift)``: the scale errors and bands are taken on."""
    return np.log(np.maximum(x, 0.0) + shift)


def band_shift(values: np.ndarray) -> float:
    """Half the mean observed level (1.0 for a series never above 0)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    mean = float(np.mean(np.abs(v))) if len(v) else 0.0
    return 0.5 * mean if mean > 0 else 1.0


class ResidualQuantiles:
    """Quantiles of log1p-scale errors at a few horizons (in grid steps)."""

    def __init__(self, steps: tuple[int, ...], table: np.ndarray, counts: tuple[int, ...], shift: float = 1.0,
                 errors: tuple[np.ndarray, ...] | None = None) -> None:
        if len(steps) == 0 or table.shape != (len(steps), len(QUANTILE_GRID)):
            raise ValueError("residuals: table shape does not match steps")
        if not shift > 0:
            raise ValueError("residuals.shift: must be > 0")
        if errors is not None and len(errors) != len(steps):
            raise ValueError("residuals.errors: one list per step is needed")
        self.steps = tuple(int(s) for s in steps)
        self.table = np.asarray(table, dtype=float)
        self.counts = tuple(int(c) for c in counts)
        self.shift = float(shift)
        self.errors = None if errors is None else tuple(np.asarray(e, dtype=float) for e in errors)

    @staticmethod
    def from_errors(steps: tuple[int, ...], errors: list[np.ndarray], shift: float) -> ResidualQuantiles:
        """The newest :data:`RECENT_ERRORS` of each step's errors (chronological) make its row."""
        kept = tuple(np.asarray(e, dtype=float)[-RECENT_ERRORS:] for e in errors)
        table = np.vstack([np.quantile(e, QUANTILE_GRID) for e in kept])
        return ResidualQuantiles(steps, table, tuple(len(e) for e in kept), shift, kept)

    def extended(self, new: dict[int, list[float]]) -> ResidualQuantiles:
        """With each step's newly settled errors (``{row: [error, ...]}``) appended; rows
        without new errors are shared, not recomputed. A table with no kept errors (a state
        saved before they were kept) starts keeping them from here."""
        if not new:
            return self
        errors = list(self.errors) if self.errors is not None else [np.empty(0) for _ in self.steps]
        table = self.table.copy()
        counts = list(self.counts)
        for j, errs in new.items():
            e = np.concatenate([errors[j], np.asarray(errs, dtype=float)])[-RECENT_ERRORS:]
            errors[j] = e
            if len(e) >= MIN_ERRORS:
                table[j] = np.quantile(e, QUANTILE_GRID)
                counts[j] = len(e)
        return ResidualQuantiles(self.steps, table, tuple(counts), self.shift, tuple(errors))

    def error(self, actual: float, point: float) -> float:
        """One settled forecast's error on the band's scale."""
        return float(_shifted_log(actual, self.shift) - _shifted_log(point, self.shift))

    def _log(self, x: np.ndarray) -> np.ndarray:
        return _shifted_log(x, self.shift)

    @staticmethod
    def from_backtest(steps: tuple[int, ...], forecasts: np.ndarray, actuals: np.ndarray,
                      shift: float = 1.0) -> ResidualQuantiles | None:
        """``forecasts``/``actuals`` are [origin, step] arrays; NaN cells are skipped."""
        errors, kept = [], []
        for j, k in enumerate(steps):
            f, a = forecasts[:, j], actuals[:, j]
            ok = np.isfinite(f) & np.isfinite(a)
            if np.count_nonzero(ok) < MIN_ERRORS:
                continue
            errors.append(_shifted_log(a[ok], shift) - _shifted_log(f[ok], shift))
            kept.append(k)
        if not errors:
            return None
        return ResidualQuantiles.from_errors(tuple(kept), errors, shift)

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
        d: dict[str, Any] = {
            "shift": self.shift,
            "steps": list(self.steps),
            "counts": list(self.counts),
            "table": [[round(float(v), 6) for v in row] for row in self.table],
        }
        if self.errors is not None:
            d["errors"] = [[round(float(v), 6) for v in e] for e in self.errors]
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ResidualQuantiles:
        errors = d.get("errors")
        return ResidualQuantiles(tuple(d["steps"]), np.asarray(d["table"], dtype=float), tuple(d["counts"]),
                                 float(d.get("shift", 1.0)),
                                 None if errors is None else tuple(np.asarray(e, dtype=float) for e in errors))
