"""Ensemble: a weighted blend of univariate detectors, then a rest period.

Owns: :class:`Ensemble`. Must not import any I/O library.

Each member scores the same sample; the blend is the weighted mean of their
scores. With a ``likelihood`` (see :mod:`~controlplane.detect.likelihood`) the
blend is then replaced by how rare it is for this series. After a score
reaches ``rest_level`` the ensemble stays quiet
for ``rest_ticks`` samples (see :class:`~controlplane.detect.base.RestPeriod`),
so one incident gives one alert instead of a burst of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.detect.base import RestPeriod, StreamingDetector
from controlplane.detect.context import ContextNovelty
from controlplane.detect.extremes import TailSurprise
from controlplane.detect.likelihood import ScoreLikelihood
from controlplane.detect.seasonal import SeasonalMAD

__all__ = ["Ensemble", "EnsembleSetting", "member"]


class Ensemble(StreamingDetector):
    """Weighted mean of member scores, optionally judged by its own history, then a rest period."""

    kind = "ensemble"

    def __init__(self, members: Sequence[tuple[StreamingDetector, float]],
                 rest_ticks: int = 50, rest_level: float = 0.75,
                 likelihood: ScoreLikelihood | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("members: at least one detector is needed")
        if any(w < 0 for _, w in members) or sum(w for _, w in members) <= 0:
            raise ValueError("members: weights must be >= 0 with a positive sum")
        self.members = [m for m, _ in members]
        total = sum(w for _, w in members)
        self.weights = [w / total for _, w in members]
        self.rest = RestPeriod(rest_ticks, rest_level)
        self.likelihood = likelihood

    def blend(self, t: float, x: float) -> float:
        """The weighted member score before the rest period is applied."""
        return sum(w * m.update(t, x) for m, w in zip(self.members, self.weights, strict=True))

    def _score(self, t: float, x: float) -> float:
        raw = self.blend(t, x)
        if self.likelihood is not None:
            raw = self.likelihood.apply(raw)
        return self.rest.apply(raw)

    def _core_state(self) -> dict[str, Any]:
        return {"members": [m.state() for m in self.members], "rest": self.rest.state(),
                "likelihood": self.likelihood.state() if self.likelihood is not None else None}

    def _restore_core(self, state: dict[str, Any]) -> None:
        saved = state["members"]
        if len(saved) != len(self.members):
            raise ValueError(f"state.core.members: {len(saved)} saved for {len(self.members)} configured")
        for member, s in zip(self.members, saved, strict=True):
            member.restore(s)
        self.rest.restore(state["rest"])
        saved_likelihood = state.get("likelihood")
        if (saved_likelihood is None) != (self.likelihood is None):
            raise ValueError("state.core.likelihood: saved and configured ensembles differ in using a likelihood")
        if self.likelihood is not None and saved_likelihood is not None:
            self.likelihood.restore(saved_likelihood)


@dataclass(frozen=True, slots=True)
class EnsembleSetting:
    """The settings of the default ensemble, as one value (what cross-validation chooses among).

    ``levels``: resolutions (coarse levels) of the context-novelty members,
    equal weights. ``tail_weight``: weight of the tail-surprise member (0 drops
    it). ``seasonal_weight``: weight of the robust seasonal baseline
    (:class:`~controlplane.detect.seasonal.SeasonalMAD`, same hour of the day; 0
    drops it). ``likelihood_short``: samples averaged before the blend is judged by its
    own history (None: the blend is used as it is). ``rest_ticks`` and
    ``rest_level``: the rest period after a strong score.
    """

    levels: tuple[int, ...] = (6, 7, 8, 9, 10)
    tail_weight: float = 0.2
    seasonal_weight: float = 0.0
    likelihood_short: int | None = None
    rest_ticks: int = 50
    rest_level: float = 0.5

    @property
    def label(self) -> str:
        lv = f"{self.levels[0]}-{self.levels[-1]}" if len(self.levels) > 1 else str(self.levels[0])
        like = f" seasonal{self.seasonal_weight:g}" if self.seasonal_weight else ""
        like += f" lik{self.likelihood_short}" if self.likelihood_short is not None else ""
        rest = f" rest{self.rest_ticks}@{self.rest_level:g}" if self.rest_ticks else " norest"
        return f"levels {lv} tail{self.tail_weight:g}{like}{rest}"

    def member_specs(self) -> list[tuple[str, float]]:
        """``(member name, weight)`` in blend order: ``context<levels>``, ``tail``, ``seasonal``."""
        share = (1.0 - self.tail_weight - self.seasonal_weight) / len(self.levels)
        specs = [(f"context{n}", share) for n in self.levels]
        if self.tail_weight > 0:
            specs.append(("tail", self.tail_weight))
        if self.seasonal_weight > 0:
            specs.append(("seasonal", self.seasonal_weight))
        return specs

    def build(self) -> Ensemble:
        members: list[tuple[StreamingDetector, float]] = [
            (member(name), weight) for name, weight in self.member_specs()]
        likelihood = ScoreLikelihood(short=self.likelihood_short) if self.likelihood_short is not None else None
        return Ensemble(members, rest_ticks=self.rest_ticks, rest_level=self.rest_level, likelihood=likelihood)


def member(name: str) -> StreamingDetector:
    """A fresh ensemble member by its spec name (``context8``, ``tail``, ``seasonal``)."""
    if name == "tail":
        return TailSurprise()
    if name == "seasonal":
        return SeasonalMAD()
    if name.startswith("context") and name[7:].isdigit():
        return ContextNovelty(levels=int(name[7:]))
    raise ValueError(f"member: unknown {name!r} (context<levels>, tail or seasonal)")
