"""Ensemble: a weighted blend of univariate detectors, then a rest period.

Owns: :class:`Ensemble`. Must not import any I/O library.

Each member scores the same sample; the blend is the weighted mean of their
scores. After a blended score reaches ``rest_level`` the ensemble stays quiet
for ``rest_ticks`` samples (see :class:`~controlplane.detect.base.RestPeriod`),
so one incident gives one alert instead of a burst of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controlplane.detect.base import RestPeriod, StreamingDetector

__all__ = ["Ensemble"]


class Ensemble(StreamingDetector):
    """Weighted mean of member scores with a rest period after strong ones."""

    kind = "ensemble"

    def __init__(self, members: Sequence[tuple[StreamingDetector, float]],
                 rest_ticks: int = 50, rest_level: float = 0.75) -> None:
        super().__init__()
        if not members:
            raise ValueError("members: at least one detector is needed")
        if any(w < 0 for _, w in members) or sum(w for _, w in members) <= 0:
            raise ValueError("members: weights must be >= 0 with a positive sum")
        self.members = [m for m, _ in members]
        total = sum(w for _, w in members)
        self.weights = [w / total for _, w in members]
        self.rest = RestPeriod(rest_ticks, rest_level)

    def blend(self, t: float, x: float) -> float:
        """The weighted member score before the rest period is applied."""
        return sum(w * m.update(t, x) for m, w in zip(self.members, self.weights, strict=True))

    def _score(self, t: float, x: float) -> float:
        return self.rest.apply(self.blend(t, x))

    def _core_state(self) -> dict[str, Any]:
        return {"members": [m.state() for m in self.members], "rest": self.rest.state()}

    def _restore_core(self, state: dict[str, Any]) -> None:
        saved = state["members"]
        if len(saved) != len(self.members):
            raise ValueError(f"state.core.members: {len(saved)} saved for {len(self.members)} configured")
        for member, s in zip(self.members, saved, strict=True):
            member.restore(s)
        self.rest.restore(state["rest"])
