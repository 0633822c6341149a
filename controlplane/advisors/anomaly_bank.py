"""The streaming detectors of one target: one per watched signal, and one multivariate.

Owns: :class:`DetectorBank` and the signal lists it watches. Pure: no I/O, no
clock (``now`` is the sample time). Its ``state()`` is JSON-safe and
``restore`` continues exactly where the saved bank was.

Univariate (the registry's default ``ensemble``, see
:mod:`controlplane.detect.registry`): TTFT p95, error ratio, KV-cache usage (the
fullest replica), queue (waiting requests) and the log error rate. Multivariate
(``iforest``): the vector (TTFT p95, error ratio, KV-cache usage, waiting,
request rate), scored only on ticks where all five are present. A missing
signal is skipped by its detector (its score is NaN, never a made-up zero).

Every watched signal is bad only when high (slow first tokens, errors, a full
KV cache, a queue): :attr:`DetectorBank.low_side` names the signals whose
value this tick is at or under the median of their last ``RECENT`` values,
whose findings the rules hold (the detectors are two-sided: an unusually fast
first token at night is unusual, not an incident).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from typing import Any

from controlplane.detect.base import StreamingDetector
from controlplane.detect.registry import make_detector
from controlplane.signals import Signals

__all__ = ["DetectorBank", "WATCHED", "VECTOR"]

WATCHED = ("ttft_p95", "error_ratio", "kv_cache_usage_max", "waiting_requests", "log_error_rate")
VECTOR = ("ttft_p95", "error_ratio", "kv_cache_usage_max", "waiting_requests", "request_rate")
MULTIVARIATE = "multivariate"
RECENT = 64  # values per signal whose median tells a high reading from a low one

Factory = Callable[[str], StreamingDetector]


def default_factory(kind: str) -> StreamingDetector:
    return make_detector(kind)


class DetectorBank:
    def __init__(self, factory: Factory = default_factory, univariate: str = "ensemble",
                 multivariate: str | None = "iforest") -> None:
        self.univariate = univariate
        self.multivariate = multivariate
        self.detectors: dict[str, StreamingDetector] = {name: factory(univariate) for name in WATCHED}
        self.vector: StreamingDetector | None = factory(multivariate) if multivariate else None
        self.recent: dict[str, deque[float]] = {name: deque(maxlen=RECENT) for name in WATCHED}
        self.low_side: set[str] = set()

    def update(self, signals: Signals, now: float) -> dict[str, tuple[str, float]]:
        """Feed this tick; ``{signal: (detector, score)}`` with NaN for a skipped sample."""
        scores: dict[str, tuple[str, float]] = {}
        self.low_side = set()
        for name, det in self.detectors.items():
            r = getattr(signals, name)
            value = r.value if r.ok and r.value is not None else math.nan
            scores[name] = (self.univariate, det.update(now, value))
            if math.isfinite(value):
                kept = self.recent[name]
                if kept and value <= statistics.median(kept):
                    self.low_side.add(name)
                kept.append(value)
        if self.vector is not None and self.multivariate:
            row = [getattr(signals, n).value for n in VECTOR]
            x: Any = row if all(v is not None for v in row) else [math.nan] * len(VECTOR)
            scores[MULTIVARIATE] = (self.multivariate, self.vector.update(now, x))
        return scores

    def state(self) -> dict[str, Any]:
        return {
            "detectors": {n: d.state() for n, d in self.detectors.items()},
            "vector": self.vector.state() if self.vector is not None else None,
            "recent": {n: list(v) for n, v in self.recent.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        saved = state.get("detectors", {})
        for name, det in self.detectors.items():
            if name in saved:
                det.restore(saved[name])
        if self.vector is not None and state.get("vector") is not None:
            self.vector.restore(state["vector"])
        for name, values in (state.get("recent") or {}).items():
            if name in self.recent:
                self.recent[name].clear()
                self.recent[name].extend(float(v) for v in values)
