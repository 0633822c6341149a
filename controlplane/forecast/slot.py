"""The hand-over point between the fit job and the tick: one reference, swapped whole.

Owns: :class:`ForecastSlot`. The scheduled fit job builds and fits a *new*
forecaster off the tick path and calls :meth:`swap`; the tick reads
:meth:`current` and only ever calls non-mutating methods on it. Rebinding one
attribute is atomic in CPython, so no lock is held on the tick path.
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from controlplane.forecast.base import QuantileForecaster
from controlplane.forecast.registry import from_state

__all__ = ["ForecastSlot", "fit_fresh"]


def fit_fresh(factory: Callable[[], QuantileForecaster], t: Sequence[float] | np.ndarray,
              y: Sequence[float] | np.ndarray, monotonic: Callable[[], float] | None = None) -> QuantileForecaster:
    """Build a new forecaster and fit it; the one in use is never touched.

    With ``monotonic`` (the caller's clock) the fit's duration lands in ``report["fit_seconds_total"]``.
    """
    f = factory()
    t0 = monotonic() if monotonic else None
    f.fit(t, y)
    if monotonic is not None and t0 is not None:
        f.report["fit_seconds_total"] = round(monotonic() - t0, 4)
    return f


class ForecastSlot:
    def __init__(self, forecaster: QuantileForecaster | None = None) -> None:
        self._current = forecaster
        self.generation = 0

    def current(self) -> QuantileForecaster | None:
        return self._current

    def swap(self, fitted: QuantileForecaster) -> None:
        if not fitted.fitted:
            raise ValueError("forecaster: only a fitted forecaster can be swapped in")
        self._current = fitted
        self.generation += 1

    def to_state(self) -> dict[str, Any] | None:
        cur = self._current
        return None if cur is None else cur.to_state()

    @staticmethod
    def from_state(state: dict[str, Any] | None) -> ForecastSlot:
        return ForecastSlot(None if state is None else from_state(state))
