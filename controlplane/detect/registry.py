"""Named detector configurations: what ``--detector NAME`` and the control loop build.

Owns: :data:`DETECTORS` and :func:`make_detector`. Must not import any I/O library.

``ensemble`` is the default univariate detector: context novelty at five
resolutions (6 to 10 coarse levels, weight 0.16 each) blended with tail
surprise (weight 0.2), quiet for 50 samples after a blended score of 0.5 or
more unless a stronger one comes. Several resolutions average away the
accidental novelty of a value that falls just across a level edge at one of
them; tail surprise orders the alerts that novelty alone would tie. The
members, weights and rest period are one setting for every series
(:data:`DEFAULT_ENSEMBLE`): what ``controlplane bench anomalies --cv category
--grid baseline`` chooses on all five NAB categories. Its leave-one-category-out
score is the figure to expect on unseen series (see docs/anomalies.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from controlplane.detect.base import StreamingDetector
from controlplane.detect.changepoint import Cusum
from controlplane.detect.context import ContextNovelty
from controlplane.detect.ensemble import Ensemble, EnsembleSetting
from controlplane.detect.extremes import TailSurprise
from controlplane.detect.multivariate import IsolationForestDetector
from controlplane.detect.seasonal import SeasonalMAD

__all__ = ["DETECTORS", "UNIVARIATE", "DEFAULT_ENSEMBLE", "make_detector"]


#: The shipped ensemble setting (see the module docstring for how it was chosen).
DEFAULT_ENSEMBLE = EnsembleSetting()


def _ensemble(**overrides: Any) -> Ensemble:
    try:
        return replace(DEFAULT_ENSEMBLE, **overrides).build()
    except TypeError as exc:
        raise ValueError(f"ensemble: {exc}") from None


DETECTORS: dict[str, Callable[..., StreamingDetector]] = {
    "ensemble": _ensemble,
    "context": ContextNovelty,
    "tail": TailSurprise,
    "seasonal": SeasonalMAD,
    "changepoint": Cusum,
    "iforest": IsolationForestDetector,
}

UNIVARIATE = ("ensemble", "context", "tail", "seasonal", "changepoint")


def make_detector(name: str, **config: Any) -> StreamingDetector:
    """A fresh detector by name; ``config`` overrides its constructor defaults."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"detector: unknown {name!r} (choose from {', '.join(sorted(DETECTORS))})") from None
    return factory(**config)
