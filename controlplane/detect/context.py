"""Context novelty: how much of the recent pattern of coarse levels was never seen before.

Owns: :class:`ContextNovelty`. Must not import any I/O library.

Values are cut into a few coarse levels spanning the range seen so far. For
each context length k (1, 2, ... tokens), the last k levels form a context;
the score is the weighted share of context lengths whose context has no
earlier occurrence in the kept history. A never-seen level scores 1 (every
context is new); a known level reached by a never-seen move scores high; a
familiar sequence scores 0. This follows the idea behind contextual detectors
such as CAD OSE on the Numenta Anomaly Benchmark, built here from scratch and
without knowing the series' range in advance: when the range seen grows past
``regrow`` times the range the levels were cut for, the levels are recut and
the counts rebuilt from the kept history.

A series that keeps producing new contexts (noise across level edges, bursty
traffic) makes novelty cheap, so the share is reduced by ``familiar_weight``
times its own exponentially weighted mean (weight ``familiar_alpha`` per
sample, about 1/alpha samples of memory): what counts is novelty above the
series' usual rate, the same idea as judging a raw score by its recent
distribution (Numenta's anomaly likelihood).

The counts are a pure function of the kept history, so ``state()`` saves the
history (and the novelty rate) and ``restore`` rebuilds the counts exactly.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from controlplane.detect.base import StreamingDetector

__all__ = ["ContextNovelty"]


class ContextNovelty(StreamingDetector):
    """Streaming novelty of coarse-level sequences; see the module docstring.

    ``levels``: coarse levels across the range seen (few levels ignore noise).
    ``lengths``: the context lengths compared. ``history``: samples kept (and
    counted); older ones are forgotten. ``learn``: samples before any score.
    ``regrow``: range growth that triggers recutting the levels.
    ``familiar_alpha``/``familiar_weight``: memory and weight of the usual
    novelty rate subtracted from the share (weight 0 gives the plain share).
    """

    kind = "context"

    def __init__(self, levels: int = 8, lengths: tuple[int, ...] = (1, 2, 3, 4, 5),
                 history: int = 5000, learn: int = 150, regrow: float = 1.5,
                 familiar_alpha: float = 0.01, familiar_weight: float = 1.0) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError("levels: must be >= 2")
        if not lengths or min(lengths) < 1:
            raise ValueError("lengths: must be non-empty positive integers")
        if history <= max(lengths):
            raise ValueError("history: must be longer than the longest context")
        if regrow < 1.0:
            raise ValueError("regrow: must be >= 1")
        if not 0.0 < familiar_alpha <= 1.0 or familiar_weight < 0.0:
            raise ValueError("familiar_alpha: must be in (0, 1], familiar_weight >= 0")
        self.levels = levels
        self.lengths = tuple(sorted(lengths))
        self.history = history
        self.learn = learn
        self.regrow = regrow
        self.familiar_alpha = familiar_alpha
        self.familiar_weight = familiar_weight
        self._rate: float | None = None
        self._values: deque[float] = deque()
        self._lo = math.inf
        self._hi = -math.inf
        self._cut: tuple[float, float] | None = None
        self._tokens: deque[int] = deque()
        self._counts: list[dict[tuple[int, ...], int]] = [{} for _ in self.lengths]

    def _token(self, x: float) -> int:
        assert self._cut is not None
        base, width = self._cut
        return math.floor((x - base) / width)

    def _recut(self) -> None:
        span = self._hi - self._lo
        if span <= 0.0:
            span = max(abs(self._hi) * 0.01, 1e-9)
        # The slight widening keeps the maximum inside the top level.
        self._cut = (self._lo, span / self.levels * (1.0 + 1e-9))
        self._count_history()

    def _count_history(self) -> None:
        self._tokens = deque(self._token(v) for v in self._values)
        self._counts = [{} for _ in self.lengths]
        toks = list(self._tokens)
        for j, k in enumerate(self.lengths):
            counts = self._counts[j]
            for i in range(k, len(toks) + 1):
                key = tuple(toks[i - k:i])
                counts[key] = counts.get(key, 0) + 1

    def _cut_span(self) -> float:
        assert self._cut is not None
        return self._cut[1] * self.levels

    def _score(self, t: float, x: float) -> float:
        if self._cut is None and len(self._values) >= self.learn:
            self._recut()
        score = 0.0
        if self._cut is not None:
            self._tokens.append(self._token(x))
            toks = self._tokens
            n = len(toks)
            new = 0
            for j, k in enumerate(self.lengths):
                if k > n:
                    continue
                key = tuple(toks[i] for i in range(n - k, n))
                counts = self._counts[j]
                seen = counts.get(key, 0)
                if seen == 0:
                    new += 1
                counts[key] = seen + 1
            share = new / len(self.lengths)
            usual = share if self._rate is None else self._rate
            self._rate = usual + self.familiar_alpha * (share - usual)
            score = max(0.0, share - self.familiar_weight * usual)
        self._remember(x)
        return score

    def _remember(self, x: float) -> None:
        self._values.append(x)
        if len(self._values) > self.history:
            self._values.popleft()
            if self._cut is not None:
                self._forget_oldest()
        grew = x < self._lo or x > self._hi
        self._lo, self._hi = min(self._lo, x), max(self._hi, x)
        if grew and self._cut is not None and self._hi - self._lo > self.regrow * self._cut_span():
            self._recut()

    def _forget_oldest(self) -> None:
        toks = self._tokens
        for j, k in enumerate(self.lengths):
            if k > len(toks):
                continue
            key = tuple(toks[i] for i in range(k))
            counts = self._counts[j]
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]
        toks.popleft()

    def _core_state(self) -> dict[str, Any]:
        return {
            "values": list(self._values),
            "lo": self._lo if self._values else None,
            "hi": self._hi if self._values else None,
            "cut": list(self._cut) if self._cut is not None else None,
            "rate": self._rate,
        }

    def _restore_core(self, state: dict[str, Any]) -> None:
        self._values = deque(float(v) for v in state["values"])
        self._lo = math.inf if state["lo"] is None else float(state["lo"])
        self._hi = -math.inf if state["hi"] is None else float(state["hi"])
        self._rate = None if state["rate"] is None else float(state["rate"])
        cut = state["cut"]
        self._cut = None if cut is None else (float(cut[0]), float(cut[1]))
        self._tokens = deque()
        self._counts = [{} for _ in self.lengths]
        if self._cut is not None:
            self._count_history()
