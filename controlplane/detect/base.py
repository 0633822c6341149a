"""What every streaming detector shares: input checks, the state envelope, suppression.

Owns: :class:`StreamingDetector` (validates each sample, skips and counts bad
ones, wraps the subclass state with its kind and version) and
:class:`RestPeriod` (quiet time after a strong score). Must not import any I/O
library; time only ever arrives as the ``t`` argument.

A sample whose value is missing, NaN or infinite, or whose time is not after
the previous sample's, is skipped: the detector's state is left exactly as it
was, ``update`` returns NaN (no score, never a made-up zero), and the skip is
counted by reason in ``skipped`` and kept in ``last_skip``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["StreamingDetector", "RestPeriod", "squash", "finite"]

STATE_VERSION = 1


def finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def squash(s: float, half: float) -> float:
    """Map a non-negative surprise onto [0, 1): ``half`` maps to 0.5."""
    if s <= 0.0:
        return 0.0
    return s / (s + half)


class StreamingDetector:
    """Base of the univariate detectors: ``update(t, x) -> score in [0, 1]``.

    Subclasses implement ``_score(t, x)`` (x already a checked float),
    ``_core_state()`` and ``_restore_core(state)``. ``kind`` names the class in
    saved state so a state is never restored into the wrong detector.
    """

    kind = "base"

    def __init__(self) -> None:
        self.last_t: float | None = None
        self.ticks = 0
        self.skipped: dict[str, int] = {}
        self.last_skip: str | None = None

    def update(self, t: float, x: Any) -> float:
        reason = self._reject(t, x)
        if reason is not None:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
            self.last_skip = reason
            return math.nan
        score = self._score(float(t), self._coerce(x))
        self.last_t = float(t)
        self.ticks += 1
        return min(1.0, max(0.0, score))

    def _reject(self, t: float, x: Any) -> str | None:
        if not finite(t):
            return "time is not a finite number"
        if self.last_t is not None and float(t) <= self.last_t:
            return "time is not after the previous sample"
        if not finite(x):
            return "value is missing or not finite"
        return None

    def _coerce(self, x: Any) -> Any:
        return float(x)

    def _score(self, t: float, x: Any) -> float:
        raise NotImplementedError

    def _core_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_core(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this detector is; JSON-safe."""
        return {
            "kind": self.kind,
            "version": STATE_VERSION,
            "last_t": self.last_t,
            "ticks": self.ticks,
            "skipped": dict(self.skipped),
            "last_skip": self.last_skip,
            "core": self._core_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a saved ``state()``; the configuration comes from the constructor."""
        if not isinstance(state, dict):
            raise ValueError("state: expected a mapping")
        if state.get("kind") != self.kind:
            raise ValueError(f"state.kind: {state.get('kind')!r} cannot be restored into a {self.kind!r} detector")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state.version: {state.get('version')!r} is not {STATE_VERSION}")
        try:
            self.last_t = None if state["last_t"] is None else float(state["last_t"])
            self.ticks = int(state["ticks"])
            self.skipped = {str(k): int(v) for k, v in state["skipped"].items()}
            self.last_skip = state["last_skip"]
            self._restore_core(state["core"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"state: missing or invalid field ({exc!r})") from exc


class RestPeriod:
    """Quiet time after a strong score, so one incident raises one alert.

    A raw score at or above ``level`` starts (or extends) a rest of ``ticks``
    samples. During a rest a score is passed through only if it beats the
    strongest raw score of the rest so far (a clearly bigger event still gets
    through); otherwise 0 is returned. Operators get one alert per incident,
    and NAB charges every repeated detection outside a window.
    """

    def __init__(self, ticks: int, level: float) -> None:
        if ticks < 0:
            raise ValueError("rest_ticks: must be >= 0")
        self.ticks = ticks
        self.level = level
        self._since_strong: int | None = None
        self._peak = 0.0

    def apply(self, raw: float) -> float:
        quiet = self._since_strong is None or self._since_strong >= self.ticks
        if self._since_strong is not None:
            self._since_strong += 1
        out = raw if quiet or raw > self._peak else 0.0
        if raw >= self.level:
            self._peak = raw if quiet else max(self._peak, raw)
            self._since_strong = 0
        return out

    def state(self) -> dict[str, Any]:
        return {"since_strong": self._since_strong, "peak": self._peak}

    def restore(self, state: dict[str, Any]) -> None:
        since = state["since_strong"]
        self._since_strong = None if since is None else int(since)
        self._peak = float(state["peak"])
