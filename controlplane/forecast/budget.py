"""A time budget for fitting, measured on a clock the caller supplies.

Owns: :class:`FitBudget`. The pure core reads no clock of its own: the fit job
passes a monotonic clock (``controlplane.clock.SystemClock().monotonic``), tests
pass a fake one, and an unbounded budget needs none.
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["FitBudget"]


class FitBudget:
    """``seconds`` of fitting time from :meth:`start`; None means unbounded."""

    def __init__(self, seconds: float | None = None, monotonic: Callable[[], float] | None = None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError("budget_s: must be > 0 (or None for no budget)")
        if seconds is not None and monotonic is None:
            raise ValueError("monotonic: a clock is needed to enforce a budget")
        self.seconds = seconds
        self._clock = monotonic
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = self._clock() if self._clock else None

    def elapsed(self) -> float | None:
        """Seconds since :meth:`start`, or None when there is no clock to measure with."""
        if self._clock is None or self._t0 is None:
            return None
        return self._clock() - self._t0

    def remaining(self) -> float:
        if self.seconds is None:
            return math.inf
        spent = self.elapsed() or 0.0
        return self.seconds - spent

    def allows(self, cost_s: float) -> bool:
        return self.remaining() >= cost_s
