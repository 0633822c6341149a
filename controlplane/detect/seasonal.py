"""Robust seasonal baseline: per time-of-period median with MAD bands.

Owns: :class:`SeasonalMAD`. Must not import any I/O library.

Samples are grouped by their position in the period (by default the hour of
the day, UTC). Each group keeps its last ``keep`` values; a new sample's
distance from its group's median, in units of the group's scaled MAD
(1.4826 * MAD, the normal-consistent robust standard deviation), is its robust
z. The score is ``z^2 / (z^2 + z_half^2)``: ``z_half`` maps to 0.5. A group
with fewer than ``min_samples`` values gives no evidence yet (score 0). The
scale never falls below ``min_scale_frac`` of the group's median magnitude, so
a perfectly repetitive group does not turn rounding noise into alerts.
"""

from __future__ import annotations

from collections import deque
from statistics import median
from typing import Any

from controlplane.detect.base import StreamingDetector

__all__ = ["SeasonalMAD"]

_MAD_TO_SIGMA = 1.4826


class SeasonalMAD(StreamingDetector):
    """Seasonal median/MAD detector; see the module docstring."""

    kind = "seasonal"

    def __init__(self, period_s: float = 86400.0, bucket_s: float = 3600.0, keep: int = 64,
                 min_samples: int = 5, z_half: float = 4.0, min_scale_frac: float = 0.01,
                 min_scale: float = 1e-9) -> None:
        super().__init__()
        if period_s <= 0 or bucket_s <= 0 or bucket_s > period_s:
            raise ValueError("bucket_s: must be > 0 and at most period_s")
        if keep < 3 or min_samples < 3 or min_samples > keep:
            raise ValueError("min_samples: must be >= 3 and at most keep")
        self.period_s = period_s
        self.bucket_s = bucket_s
        self.keep = keep
        self.min_samples = min_samples
        self.z_half = z_half
        self.min_scale_frac = min_scale_frac
        self.min_scale = min_scale
        self._buckets: dict[int, deque[float]] = {}

    def bucket(self, t: float) -> int:
        return int((t % self.period_s) // self.bucket_s)

    def band(self, t: float) -> tuple[float, float] | None:
        """(median, scale) of the group ``t`` falls in, or None while it is still learning."""
        values = self._buckets.get(self.bucket(t))
        if values is None or len(values) < self.min_samples:
            return None
        mid = median(values)
        mad = median(abs(v - mid) for v in values)
        scale = max(_MAD_TO_SIGMA * mad, self.min_scale_frac * abs(mid), self.min_scale)
        return mid, scale

    def _score(self, t: float, x: float) -> float:
        band = self.band(t)
        score = 0.0
        if band is not None:
            z = (x - band[0]) / band[1]
            score = z * z / (z * z + self.z_half * self.z_half)
        values = self._buckets.setdefault(self.bucket(t), deque(maxlen=self.keep))
        values.append(x)
        return score

    def _core_state(self) -> dict[str, Any]:
        return {"buckets": {str(k): list(v) for k, v in self._buckets.items()}}

    def _restore_core(self, state: dict[str, Any]) -> None:
        self._buckets = {int(k): deque((float(x) for x in v), maxlen=self.keep)
                         for k, v in state["buckets"].items()}

