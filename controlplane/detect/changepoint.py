"""Change-point detection: a two-sided CUSUM on robustly standardised samples.

Owns: :class:`Cusum`. Must not import any I/O library.

The in-control level and spread are exponentially weighted estimates (weight
``alpha`` per sample) of the mean and of the mean absolute deviation. Each
sample becomes ``z = (x - level) / (1.2533 * mad)`` (1.2533 * mean absolute
deviation estimates the standard deviation of a normal), clipped to
``+-z_clip`` so one spike cannot pass for a shift. The classic
Page (1954) recursions ``g+ = max(0, g+ + z - drift)`` and
``g- = max(0, g- - z - drift)`` accumulate evidence of a sustained move;
the score is ``max(g+, g-) / limit`` capped at 1. When a sum crosses ``limit``
the change is accepted: both sums restart and the level jumps to the sample,
so the detector tracks the new regime instead of alarming on it forever.
While the estimates are warming up (``learn`` samples) the score is 0.
"""

from __future__ import annotations

from typing import Any

from controlplane.detect.base import StreamingDetector

__all__ = ["Cusum"]

_MEAN_ABS_TO_SIGMA = 1.2533


class Cusum(StreamingDetector):
    """Two-sided CUSUM with adaptive baseline; see the module docstring."""

    kind = "changepoint"

    def __init__(self, alpha: float = 0.01, drift: float = 0.5, limit: float = 8.0,
                 z_clip: float = 4.0, learn: int = 30, min_scale: float = 1e-9) -> None:
        super().__init__()
        if not 0.0 < alpha < 1.0:
            raise ValueError("alpha: must be in (0, 1)")
        if drift < 0 or limit <= 0 or z_clip <= 0:
            raise ValueError("limit: drift must be >= 0, limit and z_clip > 0")
        self.alpha = alpha
        self.drift = drift
        self.limit = limit
        self.z_clip = z_clip
        self.learn = learn
        self.min_scale = min_scale
        self._level: float | None = None
        self._mad = 0.0
        self._seen = 0
        self._up = 0.0
        self._down = 0.0

    def _score(self, t: float, x: float) -> float:
        self._seen += 1
        if self._level is None:
            self._level = x
            return 0.0
        a = self.alpha if self._seen > self.learn else 1.0 / self._seen
        dev = x - self._level
        scale = max(_MEAN_ABS_TO_SIGMA * self._mad, self.min_scale)
        score = 0.0
        if self._seen > self.learn:
            z = max(-self.z_clip, min(self.z_clip, dev / scale))
            self._up = max(0.0, self._up + z - self.drift)
            self._down = max(0.0, self._down - z - self.drift)
            score = min(1.0, max(self._up, self._down) / self.limit)
            if score >= 1.0:
                self._up = self._down = 0.0
                self._level = x
                return score
        self._level += a * dev
        self._mad += a * (abs(dev) - self._mad)
        return score

    def _core_state(self) -> dict[str, Any]:
        return {"level": self._level, "mad": self._mad, "seen": self._seen, "up": self._up, "down": self._down}

    def _restore_core(self, state: dict[str, Any]) -> None:
        self._level = None if state["level"] is None else float(state["level"])
        self._mad = float(state["mad"])
        self._seen = int(state["seen"])
        self._up = float(state["up"])
        self._down = float(state["down"])
