"""Tail surprise: how rare the current value is against the values kept so far.

Owns: :class:`TailSurprise`. Must not import any I/O library.

For each sample the empirical upper and lower tail probabilities among the
last ``history`` values are computed from a sorted copy (``bisect``; cost
O(history) memory moves, a few microseconds). Beyond the largest or smallest
value kept, the tail is extended exponentially with the distance past that
extreme measured in units of (extreme - median), so a value far beyond every
earlier one scores more than one just past the record. The surprise
``-log10(p)`` of the rarer tail is squashed into [0, 1).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from controlplane.detect.base import StreamingDetector, squash

__all__ = ["TailSurprise"]

_MAX_EXCESS = 50.0


class TailSurprise(StreamingDetector):
    """Streaming rarity of the value itself; see the module docstring.

    ``history``: values kept. ``learn``: values before any score.
    ``half``: the surprise (in decades of probability) that maps to 0.5.
    """

    kind = "tail"

    def __init__(self, history: int = 5000, learn: int = 150, half: float = 1.0) -> None:
        super().__init__()
        if history < 20:
            raise ValueError("history: must be >= 20")
        if half <= 0:
            raise ValueError("half: must be > 0")
        self.history = history
        self.learn = max(learn, 20)
        self.half = half
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def surprise(self, x: float) -> float:
        """Decades of rarity of ``x`` against the kept values (0 while learning)."""
        srt = self._sorted
        n = len(srt)
        if n < self.learn:
            return 0.0
        above = n - bisect.bisect_left(srt, x)
        below = bisect.bisect_right(srt, x)
        median = srt[n // 2]
        p = (min(above, below) + 1) / (n + 1)
        if above == 0:
            p *= math.exp(-min(_MAX_EXCESS, (x - srt[-1]) / (srt[-1] - median + 1e-12)))
        elif below == 0:
            p *= math.exp(-min(_MAX_EXCESS, (srt[0] - x) / (median - srt[0] + 1e-12)))
        return -math.log10(p)

    def _score(self, t: float, x: float) -> float:
        score = squash(self.surprise(x), self.half)
        self._order.append(x)
        bisect.insort(self._sorted, x)
        if len(self._order) > self.history:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        return score

    def _core_state(self) -> dict[str, Any]:
        return {"values": list(self._order)}

    def _restore_core(self, state: dict[str, Any]) -> None:
        self._order = deque(float(v) for v in state["values"])
        self._sorted = sorted(self._order)
