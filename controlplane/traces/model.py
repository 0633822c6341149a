"""A request trace as parallel numpy arrays (fast for million-request replays)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import KW_ONLY, dataclass

import numpy as np

__all__ = ["Trace"]


@dataclass(frozen=True)
class Trace:
    """Arrivals in seconds from the trace start (sorted), with token sizes per request.

    ``start_unix``: the Unix time of second 0 when the source says (date-time
    stamps, a recorded window), so a replay reads schedule windows at the hour
    and weekday the requests really came; None when the trace has only offsets.

    ``blocks``, where the format has them, holds per request the ids of its
    prompt's consecutive ``block_tokens``-token blocks; an id stands for the
    block's content and everything before it, so equal leading ids are a shared
    prefix (what a prefix cache can reuse).
    """

    name: str
    arrival_s: np.ndarray  # float64, seconds from start, non-decreasing
    prompt_tokens: np.ndarray  # int64, >= 1
    output_tokens: np.ndarray  # int64, >= 1
    _: KW_ONLY
    start_unix: float | None = None
    blocks: tuple[tuple[Hashable, ...], ...] | None = None
    block_tokens: int = 0  # tokens per block of ``blocks`` (0 without blocks)

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise ValueError("prompt_tokens/output_tokens: lengths differ from arrival_s")
        if n and np.any(np.diff(self.arrival_s) < 0):
            raise ValueError("arrival_s: not sorted")
        if self.blocks is not None:
            if len(self.blocks) != n:
                raise ValueError("blocks: length differs from arrival_s")
            if self.block_tokens < 1:
                raise ValueError("block_tokens: must be >= 1 with blocks")

    def _take(self, idx: np.ndarray | slice) -> tuple[tuple[Hashable, ...], ...] | None:
        if self.blocks is None:
            return None
        if isinstance(idx, slice):
            return self.blocks[idx]
        return tuple(self.blocks[j] for j in idx.tolist())

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
        blocks = self.blocks
        if rate_scale != 1.0:
            rng = np.random.default_rng(seed)
            whole = int(np.floor(rate_scale))
            frac = rate_scale - whole
            every = np.arange(len(t))
            parts_t, parts_i = [], []
            for k in range(whole):
                jitter = 0.0 if k == 0 else rng.uniform(0, 1e-3, len(t))
                parts_t.append(t + jitter)
                parts_i.append(every)
            if frac > 0:
                keep = rng.random(len(t)) < frac
                parts_t.append(t[keep])
                parts_i.append(every[keep])
            t, idx = np.concatenate(parts_t), np.concatenate(parts_i)
            order = np.argsort(t, kind="stable")
            t, idx = t[order], idx[order]
            p, o, blocks = p[idx], o[idx], self._take(idx)
        return Trace(self.name, t, p, o, start_unix=self.start_unix, blocks=blocks, block_tokens=self.block_tokens)

    def window(self, start_s: float, end_s: float) -> Trace:
        lo, hi = (int(x) for x in np.searchsorted(self.arrival_s, [start_s, end_s]))
        start = None if self.start_unix is None else self.start_unix + start_s
        return Trace(self.name, self.arrival_s[lo:hi] - start_s, self.prompt_tokens[lo:hi], self.output_tokens[lo:hi],
                     start_unix=start, blocks=self._take(slice(lo, hi)), block_tokens=self.block_tokens)

    def shared_block_fraction(self) -> float | None:
        """Share of prompt blocks whose id appeared earlier in the trace (None without blocks)."""
        if self.blocks is None:
            return None
        seen: set[Hashable] = set()
        total = repeat = 0
        for ids in self.blocks:
            for b in ids:
                total += 1
                if b in seen:
                    repeat += 1
                else:
                    seen.add(b)
        return repeat / total if total else None
