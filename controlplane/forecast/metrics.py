"""Forecast accuracy measures: MAE, MASE, pinball loss, interval coverage, wMAPE.

Owns: the scoring used by ``controlplane bench forecast`` and by the
predictive floor's error tracker. NaN pairs are skipped, never scored as 0.
Must not import: any I/O library (pure core).

MASE follows Hyndman & Koehler (2006, "Another look at measures of forecast
accuracy"): the forecast MAE divided by the in-sample MAE of the seasonal
naive forecast with season ``m`` on the training data (``m = 1`` is the
one-step naive forecast). Below 1 beats that in-sample yardstick.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mae", "naive_scale", "mase", "pinball", "coverage", "wmape"]


def _pairs(forecast: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(forecast, dtype=float).ravel()
    a = np.asarray(actual, dtype=float).ravel()
    if f.shape != a.shape:
        raise ValueError(f"forecast: shape {f.shape} differs from actual {a.shape}")
    ok = np.isfinite(f) & np.isfinite(a)
    return f[ok], a[ok]


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    f, a = _pairs(forecast, actual)
    return float(np.mean(np.abs(a - f))) if len(f) else math.nan


def naive_scale(train: np.ndarray, m: int) -> float:
    """In-sample MAE of the seasonal naive forecast with lag ``m`` (the MASE denominator)."""
    y = np.asarray(train, dtype=float)
    if m < 1 or len(y) <= m:
        return math.nan
    d = np.abs(y[m:] - y[:-m])
    d = d[np.isfinite(d)]
    return float(np.mean(d)) if len(d) else math.nan


def mase(forecast: np.ndarray, actual: np.ndarray, scale: float) -> float:
    if not scale > 0:
        return math.nan
    return mae(forecast, actual) / scale


def pinball(forecast_q: np.ndarray, actual: np.ndarray, q: float) -> float:
    """Mean quantile (pinball) loss of a ``q`` forecast: q*(a-f) above, (1-q)*(f-a) below."""
    f, a = _pairs(forecast_q, actual)
    if not len(f):
        return math.nan
    d = a - f
    return float(np.mean(np.maximum(q * d, (q - 1.0) * d)))


def coverage(forecast_q: np.ndarray, actual: np.ndarray) -> float:
    """Share of actuals at or below the quantile forecast (a calibrated p90 gives ~0.9)."""
    f, a = _pairs(forecast_q, actual)
    return float(np.mean(a <= f)) if len(f) else math.nan


def wmape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """sum|a - f| / sum|a|: MAPE weighted by volume, defined when quiet periods hit 0."""
    f, a = _pairs(forecast, actual)
    total = float(np.sum(np.abs(a)))
    return float(np.sum(np.abs(a - f))) / total if total > 0 else math.nan
