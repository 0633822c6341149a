"""The observed demand of one target: request and token rates per tick, gaps kept as gaps.

Owns: :class:`RateHistory`, a bounded record of (t, request rate, prompt
tokens rate, generation tokens rate) that the forecast fit reads and the
capacity model takes its mean request size from.
Must not import: any I/O library; time comes in as ``t``.

A reading that is missing, NaN or negative is stored as NaN: the forecasters
treat NaN as "not observed" and never as a quiet interval.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from controlplane.signals import Reading, Signals

__all__ = ["RateHistory", "SERIES"]

SERIES = ("request_rate", "prompt_tokens_rate", "generation_tokens_rate")


def _value(r: Reading) -> float:
    v = r.value
    if v is None or not math.isfinite(v) or v < 0:
        return math.nan
    return float(v)


class RateHistory:
    """The last ``max_age_s`` seconds of rate samples (at most ``max_samples``)."""

    def __init__(self, max_age_s: float = 3 * 86400.0, max_samples: int = 50_000) -> None:
        if not max_age_s > 0:
            raise ValueError("max_age_s: must be > 0")
        if max_samples < 2:
            raise ValueError("max_samples: must be >= 2")
        self.max_age_s = float(max_age_s)
        self._rows: deque[tuple[float, float, float, float]] = deque(maxlen=int(max_samples))

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def t_last(self) -> float | None:
        return self._rows[-1][0] if self._rows else None

    def observe(self, t: float, signals: Signals) -> None:
        """One tick's rates; a sample at or before the newest one is ignored (no time travel)."""
        if not math.isfinite(t) or (self._rows and t <= self._rows[-1][0]):
            return
        req, prompt, gen = (_value(getattr(signals, s)) for s in SERIES)
        self._rows.append((float(t), req, prompt, gen))
        while self._rows and self._rows[0][0] < t - self.max_age_s:
            self._rows.popleft()

    def series(self, name: str = "request_rate") -> tuple[np.ndarray, np.ndarray]:
        """(t, y) of one series, NaN where it was not observed."""
        if name not in SERIES:
            raise ValueError(f"series: expected one of {', '.join(SERIES)}, got {name!r}")
        col = SERIES.index(name) + 1
        t = np.fromiter((r[0] for r in self._rows), dtype=float, count=len(self._rows))
        y = np.fromiter((r[col] for r in self._rows), dtype=float, count=len(self._rows))
        return t, y

    def since(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(t, request rate) of the samples after ``t``: what a fitted forecaster has not seen."""
        rows: list[tuple[float, float, float, float]] = []
        for r in reversed(self._rows):  # new samples are few and at the end
            if r[0] <= t:
                break
            rows.append(r)
        rows.reverse()
        return np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float)

    def mean_sizes(self, now: float, window_s: float = 3600.0) -> tuple[float, float] | None:
        """Mean prompt and output tokens per request over the last ``window_s``:
        summed token rates over summed request rates, on ticks where all three were observed."""
        req = prompt = gen = 0.0
        for t, r, p, g in reversed(self._rows):
            if t < now - window_s:
                break
            if math.isfinite(r) and math.isfinite(p) and math.isfinite(g):
                req, prompt, gen = req + r, prompt + p, gen + g
        if req <= 0:
            return None
        return max(1.0, prompt / req), max(1.0, gen / req)

    def to_dict(self) -> dict[str, Any]:
        return {"max_age_s": self.max_age_s, "max_samples": self._rows.maxlen,
                "rows": [[None if not math.isfinite(v) else v for v in row] for row in self._rows]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RateHistory:
        h = RateHistory(float(d["max_age_s"]), int(d.get("max_samples") or 50_000))
        for row in d.get("rows", ()):
            if len(row) != 4 or row[0] is None:
                raise ValueError("history.rows: each row is [t, request_rate, prompt_tokens_rate, generation_tokens_rate]")
            h._rows.append(tuple(math.nan if v is None else float(v) for v in row))  # type: ignore[arg-type]
        return h
