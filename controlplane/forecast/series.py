"""Rate series on a regular time grid, with missing buckets kept as NaN.

Owns: turning (t, y) samples into a regular grid (:class:`Grid`), bucketing
request arrivals into a rate series, and the gap filling used only for
parameter estimation.
Must not import: any I/O library (pure core).

Convention: a value stamped ``t`` is the mean rate over ``(t - step, t]``, the
way a Prometheus ``rate(x[step])`` sample at ``t`` is. A forecast for time
``T`` is therefore the value of the first grid slot at or after ``T``.

Missing data is never zero: a slot with no sample, or a NaN/Inf sample, stays
NaN. Forecasters treat NaN as "not observed" (their state coasts on), never as
a quiet interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Grid", "regularize", "bucket_rate", "fill_for_estimation", "season_steps"]


@dataclass(frozen=True)
class Grid:
    """Values at ``t0 + i * step_s`` for i = 0..n-1; NaN where nothing was observed."""

    t0: float
    step_s: float
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    @property
    def t_last(self) -> float:
        return self.t0 + (len(self.values) - 1) * self.step_s

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.step_s * np.arange(len(self.values))

    @property
    def n_missing(self) -> int:
        return int(np.count_nonzero(~np.isfinite(self.values)))


def _as_float_array(name: str, data: Sequence[float] | np.ndarray) -> np.ndarray:
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not a sequence of numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d sequence, got shape {arr.shape}")
    return arr


def regularize(t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, step_s: float | None = None) -> Grid:
    """Place samples on a regular grid; several samples in one slot are averaged.

    ``step_s`` None infers the step as the median spacing of the timestamps.
    Raises ValueError naming ``t``, ``y`` or ``step_s`` when the input cannot form a series.
    """
    ta = _as_float_array("t", t)
    ya = _as_float_array("y", y)
    if len(ta) != len(ya):
        raise ValueError(f"y: length {len(ya)} differs from t ({len(ta)})")
    if len(ta) < 2:
        raise ValueError("t: need at least 2 samples to form a series")
    if not np.all(np.isfinite(ta)):
        raise ValueError("t: timestamps must be finite")
    order = np.argsort(ta, kind="stable")
    ta, ya = ta[order], ya[order]
    if step_s is None:
        diffs = np.diff(ta)
        diffs = diffs[diffs > 0]
        if len(diffs) == 0:
            raise ValueError("t: all timestamps are equal; cannot infer step_s")
        step_s = float(np.median(diffs))
    if not (isinstance(step_s, (int, float)) and math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s: must be a positive number, got {step_s!r}")
    t0 = float(ta[0])
    idx = np.rint((ta - t0) / step_s).astype(np.int64)
    n = int(idx[-1]) + 1
    ok = np.isfinite(ya)
    sums = np.bincount(idx[ok], weights=ya[ok], minlength=n)
    counts = np.bincount(idx[ok], minlength=n)
    values = np.full(n, np.nan)
    seen = counts > 0
    values[seen] = sums[seen] / counts[seen]
    return Grid(t0, float(step_s), values)


def bucket_rate(arrival_s: np.ndarray, step_s: float, weights: np.ndarray | None = None,
                start_s: float | None = None, end_s: float | None = None) -> Grid:
    """Count arrivals (or sum ``weights``, e.g. tokens) per ``step_s`` bucket, as a per-second rate.

    Buckets are ``(t - step, t]`` stamped with their end ``t``; an empty bucket
    inside the trace is a true 0 (the trace is complete), unlike a missing sample.
    """
    if step_s <= 0:
        raise ValueError("step_s: must be > 0")
    arr = np.asarray(arrival_s, dtype=float)
    if len(arr) == 0:
        raise ValueError("arrival_s: empty trace")
    lo = float(arr[0]) if start_s is None else float(start_s)
    hi = float(arr[-1]) if end_s is None else float(end_s)
    n = max(1, math.ceil((hi - lo) / step_s))
    idx = np.clip(np.ceil((arr - lo) / step_s).astype(np.int64) - 1, 0, n - 1)
    w = None if weights is None else np.asarray(weights, dtype=float)
    sums = np.bincount(idx, weights=w, minlength=n)[:n]
    return Grid(lo + step_s, float(step_s), sums / step_s)


def season_steps(season_s: float, step_s: float) -> int | None:
    """Grid slots per season, or None when the season is not a whole number of slots."""
    m = season_s / step_s
    if m < 2 or abs(m - round(m)) > 1e-6:
        return None
    return int(round(m))


def fill_for_estimation(values: np.ndarray, m: int | None = None) -> np.ndarray:
    """A gap-free copy for parameter estimation only (statsmodels does not take NaN).

    A gap takes the value one season earlier when that was observed, otherwise a
    straight line between its observed neighbours; edges take the nearest value.
    The forecasters' state updates still see the gap as missing.
    """
    out = np.array(values, dtype=float)
    bad = ~np.isfinite(out)
    if bad.all():
        raise ValueError("y: no finite values to fit")
    if not bad.any():
        return out
    if m:
        for i in np.flatnonzero(bad):
            if i >= m and np.isfinite(out[i - m]):
                out[i] = out[i - m]
    bad = ~np.isfinite(out)
    if bad.any():
        x = np.arange(len(out))
        out[bad] = np.interp(x[bad], x[~bad], out[~bad])
    return out
