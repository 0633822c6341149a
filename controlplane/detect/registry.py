"""Named detector configurations: what ``--detector NAME`` and the control loop build.

Owns: :data:`DETECTORS` and :func:`make_detector`. Must not import any I/O library.

``ensemble`` is the default univariate detector: context novelty (weight 0.9)
blended with tail surprise (weight 0.1), quiet for 50 samples after a blended
score of 0.725 or more. The blend lets the rarity of the value order the
alerts that context novelty alone would tie. The weights and rest period were
chosen on the Numenta Anomaly Benchmark as one setting for every series; see
``controlplane bench anomalies``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controlplane.detect.base import StreamingDetector
from controlplane.detect.changepoint import Cusum
from controlplane.detect.context import ContextNovelty
from controlplane.detect.ensemble import Ensemble
from controlplane.detect.extremes import TailSurprise
from controlplane.detect.multivariate import IsolationForestDetector
from controlplane.detect.seasonal import SeasonalMAD

__all__ = ["DETECTORS", "UNIVARIATE", "make_detector"]


def _ensemble(**kw: Any) -> Ensemble:
    return Ensemble([(ContextNovelty(), 0.9), (TailSurprise(), 0.1)],
                    rest_ticks=kw.get("rest_ticks", 50), rest_level=kw.get("rest_level", 0.725))


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
