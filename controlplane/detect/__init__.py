"""Streaming anomaly detectors for per-tick serving metrics (pure core).

Owns: the detectors (each ``update(t, x) -> score in [0, 1]`` with
``state()``/``restore()``, see :class:`controlplane.detect.base.StreamingDetector`) and
their named configurations. Must not import HTTP, Kubernetes, Elasticsearch or
web libraries, nor read the clock: time arrives as ``t`` (Unix seconds).
"""

from controlplane.detect.base import RestPeriod, StreamingDetector
from controlplane.detect.changepoint import Cusum
from controlplane.detect.context import ContextNovelty
from controlplane.detect.ensemble import Ensemble
from controlplane.detect.extremes import TailSurprise
from controlplane.detect.multivariate import IsolationForestDetector
from controlplane.detect.registry import DETECTORS, UNIVARIATE, make_detector
from controlplane.detect.seasonal import SeasonalMAD

__all__ = [
    "StreamingDetector",
    "RestPeriod",
    "ContextNovelty",
    "TailSurprise",
    "SeasonalMAD",
    "Cusum",
    "IsolationForestDetector",
    "Ensemble",
    "DETECTORS",
    "UNIVARIATE",
    "make_detector",
]
