"""Score likelihood: a raw anomaly score judged against that score's own history.

Owns: :class:`ScoreLikelihood`. Must not import any I/O library.

A raw score of 0.6 means different things on different series: on a noisy
one novelty is cheap and 0.6 happens every hour, on a quiet one it never
happens. Turning the score into how rare it is *for this series* lets one
threshold serve every series, the idea behind Numenta's anomaly likelihood
(Ahmad, Lavin, Purdy and Agha, 2017), built here from scratch and without
assuming a distribution: the mean of the last ``short`` raw scores is ranked
against the means kept over the last ``history`` samples. Its upper-tail
probability ``p = (count of kept means >= it + 1) / (kept + 1)``, extended
exponentially past the largest mean kept (in units of that largest mean's
distance above the median, so a mean far beyond every earlier one is rarer
than one just past the record), gives the surprise ``-log10(p)``, squashed so
that ``half`` decades map to 0.5. Only the upper tail counts: an unusually
calm stretch is not an anomaly. While fewer than ``learn`` means are kept the
output is 0.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from controlplane.detect.base import squash

__all__ = ["ScoreLikelihood"]

_MAX_EXCESS = 50.0


class ScoreLikelihood:
    """``apply(raw) -> score in [0, 1)``: the rarity of the recent raw score for this series."""

    def __init__(self, short: int = 5, history: int = 5000, learn: int = 150, half: float = 2.0) -> None:
        if short < 1:
            raise ValueError("likelihood_short: must be >= 1")
        if history < 20 or learn < 1 or learn > history:
            raise ValueError("likelihood_history: must be >= 20 and >= likelihood_learn >= 1")
        if half <= 0:
            raise ValueError("likelihood_half: must be > 0")
        self.short = short
        self.history = history
        self.learn = learn
        self.half = half
        self._recent: deque[float] = deque(maxlen=short)
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def surprise(self, mean: float) -> float:
        """Decades of upper-tail rarity of a short-term mean (0 while learning)."""
        srt = self._sorted
        n = len(srt)
        if n < self.learn:
            return 0.0
        at_or_above = n - bisect.bisect_left(srt, mean)
        p = (at_or_above + 1) / (n + 1)
        if at_or_above == 0:
            median = srt[n // 2]
            p *= math.exp(-min(_MAX_EXCESS, (mean - srt[-1]) / (srt[-1] - median + 1e-12)))
        return -math.log10(p)

    def apply(self, raw: float) -> float:
        self._recent.append(raw)
        mean = math.fsum(self._recent) / len(self._recent)
        score = squash(self.surprise(mean), self.half)
        self._order.append(mean)
        bisect.insort(self._sorted, mean)
        if len(self._order) > self.history:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        return score

    def state(self) -> dict[str, Any]:
        return {"recent": list(self._recent), "means": list(self._order)}

    def restore(self, state: dict[str, Any]) -> None:
        self._recent = deque((float(v) for v in state["recent"]), maxlen=self.short)
        self._order = deque(float(v) for v in state["means"])
        self._sorted = sorted(self._order)
