"""A request trace as parallel numpy arrays (fast for million-request replays)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Trace"]


@dataclass(frozen=True)
class Trace:
    """Arrivals in seconds from the trace start (sorted), with token sizes per request.

    ``start_unix``: the Unix time of second 0 when the source says (date-time
    stamps, a recorded window), so a replay reads schedule windows at the hour
    and weekday the requests really came; None when the trace has only offsets.
    """

    name: str
    arrival_s: np.ndarray  # float64, seconds from start, non-decreasing
    prompt_tokens: np.ndarray  # int64, >= 1
    output_tokens: np.ndarray  # int64, >= 1
    start_unix: float | None = None

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise ValueError("prompt_tokens/output_tokens: lengths differ from arrival_s")
        if n and np.any(np.diff(self.arrival_s) < 0):
            raise ValueError("arrival_s: not sorted")

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def duration_s(self) -> float:
        return float(self.arrival_s[-1]) if len(self) else 0.0

    def scaled(self, time_scale: float = 1.0, rate_scale: float = 1.0, seed: int = 0) -> Trace:
        """Compress time by ``time_scale`` (2 = twice as fast) and thin or replicate
        requests by ``rate_scale`` (0.5 keeps a seeded half, 2 duplicates with jitter)."""
        if time_scale <= 0:
            raise ValueError("time_scale: must be > 0")
        if rate_scale <= 0:
            raise ValueError("rate_scale: must be > 0")
        t, p, o = self.arrival_s / time_scale, self.prompt_tokens, self.output_tokens
        if rate_scale != 1.0:
            rng = np.random.default_rng(seed)
            whole = int(np.floor(rate_scale))
            frac = rate_scale - whole
            parts_t, parts_p, parts_o = [], [], []
            for k in range(whole):
                jitter = 0.0 if k == 0 else rng.uniform(0, 1e-3, len(t))
                parts_t.append(t + jitter)
                parts_p.append(p)
                parts_o.append(o)
            if frac > 0:
                keep = rng.random(len(t)) < frac
                parts_t.append(t[keep])
                parts_p.append(p[keep])
                parts_o.append(o[keep])
            t, p, o = np.concatenate(parts_t), np.concatenate(parts_p), np.concatenate(parts_o)
            order = np.argsort(t, kind="stable")
            t, p, o = t[order], p[order], o[order]
        return Trace(self.name, t, p, o, self.start_unix)

    def window(self, start_s: float, end_s: float) -> Trace:
        lo, hi = np.searchsorted(self.arrival_s, [start_s, end_s])
        start = None if self.start_unix is None else self.start_unix + start_s
        return Trace(self.name, self.arrival_s[lo:hi] - start_s, self.prompt_tokens[lo:hi], self.output_tokens[lo:hi], start)
