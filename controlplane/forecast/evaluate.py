"""Rolling-origin evaluation of a forecaster on held-out data.

Owns: :func:`rolling_evaluation` (fit on the history before each refit point,
then forecast every horizon from every origin in the test span with the state
updated by each new observation but the parameters fixed until the next refit)
and the per-horizon scores. ``controlplane bench forecast`` prints and plots them.
Must not import: any I/O library (pure core).

Origins: the end of the training data, then each test slot as it arrives. A
horizon ``h`` targets the slot ``ceil(h / step)`` slots after the origin; the
target must lie in the test span to be scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controlplane.forecast.base import QuantileForecaster
from controlplane.forecast.metrics import coverage, mae, mase, pinball
from controlplane.forecast.series import Grid

__all__ = ["HorizonScore", "Evaluation", "rolling_evaluation"]

QUANTILES = (0.5, 0.9)


@dataclass(frozen=True)
class HorizonScore:
    horizon_s: float
    n: int
    mae: float
    mase: float
    pinball_p50: float
    pinball_p90: float
    coverage_p90: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class Evaluation:
    name: str
    scores: list[HorizonScore] = field(default_factory=list)
    origins: np.ndarray = field(default_factory=lambda: np.zeros(0))
    p50: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    p90: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    actual: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def rolling_evaluation(
    name: str,
    factory: Callable[[], QuantileForecaster],
    grid: Grid,
    n_train: int,
    horizons_s: Sequence[float],
    scale: float,
    refit_every: int | None = None,
) -> Evaluation:
    """Fit on ``grid[:n_train]`` (and again every ``refit_every`` test slots on all data so far)."""
    if not 2 <= n_train < len(grid):
        raise ValueError(f"train: {n_train} slots leaves no test data in a series of {len(grid)}")
    step = grid.step_s
    hs = [float(h) for h in horizons_s]
    ks = np.maximum(1, np.ceil(np.asarray(hs) / step - 1e-9)).astype(np.int64)
    times, values = grid.times, grid.values
    test = values[n_train:]
    n_test = len(test)
    chunk = n_test if not refit_every else max(1, int(refit_every))
    rows50: list[np.ndarray] = []
    rows90: list[np.ndarray] = []
    reports: list[dict[str, Any]] = []
    for start in range(0, n_test, chunk):
        end = min(n_test, start + chunk)
        f = factory()
        try:
            f.fit(times[: n_train + start], values[: n_train + start])
        except ValueError as exc:
            return Evaluation(name, error=str(exc))
        reports.append(f.report)
        first = f.predict(float(times[n_train + start - 1]), hs, QUANTILES)
        rows50.append(np.asarray([first[0.5]]))
        rows90.append(np.asarray([first[0.9]]))
        seg_t, seg_y = times[n_train + start: n_train + end], values[n_train + start: n_train + end]
        last = end == n_test
        if not last:  # the next refit's first origin covers the chunk's last slot
            seg_t, seg_y = seg_t[:-1], seg_y[:-1]
        if len(seg_t):
            _, qs = f.rolling(seg_t, seg_y, hs, QUANTILES)
            rows50.append(qs[0.5])
            rows90.append(qs[0.9])
    p50, p90 = np.vstack(rows50), np.vstack(rows90)
    n_orig = p50.shape[0]
    actual = np.full_like(p50, np.nan)
    for j, k in enumerate(ks):
        target = np.arange(n_orig) + k - 1
        inside = target < n_test
        actual[inside, j] = test[target[inside]]
    origins = times[n_train - 1] + step * np.arange(n_orig)
    scores = [
        HorizonScore(
            horizon_s=h, n=int(np.count_nonzero(np.isfinite(actual[:, j]) & np.isfinite(p50[:, j]))),
            mae=mae(p50[:, j], actual[:, j]), mase=mase(p50[:, j], actual[:, j], scale),
            pinball_p50=pinball(p50[:, j], actual[:, j], 0.5), pinball_p90=pinball(p90[:, j], actual[:, j], 0.9),
            coverage_p90=coverage(p90[:, j], actual[:, j]),
        )
        for j, h in enumerate(hs)
    ]
    return Evaluation(name, scores, origins, p50, p90, actual, reports)
