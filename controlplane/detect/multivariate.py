"""Multivariate detector: an Isolation Forest over a per-tick vector, refitted on a sliding window.

Owns: :class:`IsolationForestDetector`. Must not import any I/O library.

The vector is whatever the caller measures together, e.g. per replica
``[kv_cache_usage, throughput, ttft_p95, queue]``. The forest (Liu, Ting and
Zhou, 2008; scikit-learn's ``IsolationForest``) is fitted on the last
``window`` vectors once ``min_fit`` are available, and refitted only every
``refit_every`` samples, never per tick. Scores are calibrated against the
training set: with ``a`` the forest's anomaly score (higher is stranger),
``m`` its median and ``top`` its 99th percentile over the training vectors,
the detector returns ``0.5 * (a - m) / (top - m)`` clipped to [0, 1]: as
strange as the strangest 1% of the training vectors gives 0.5, twice as far
from the median gives 1.

Scoring one vector walks the fitted trees directly (plain lists copied out of
the forest after each fit) with the paper's formula ``a = 2^(-E[h] / c(psi))``,
the same arithmetic as ``IsolationForest.score_samples``: a few hundred list
steps per tick instead of a call into scikit-learn for a single row.

The saved state holds the exact training vectors and the seed, so a restored
detector refits the identical forest instead of keeping an opaque model.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from controlplane.detect.base import StreamingDetector, finite

__all__ = ["IsolationForestDetector", "average_path_length"]

_EULER_GAMMA = 0.5772156649015329


def average_path_length(n: int) -> float:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER_GAMMA) - 2.0 * (n - 1.0) / n


# One fitted tree as plain lists: features used, split feature, threshold,
# left and right child (-1 at a leaf) and the training points in each node.
_Tree = tuple[list[int], list[int], list[float], list[int], list[int], list[int]]


class IsolationForestDetector(StreamingDetector):
    """``update(t, vector)``: Isolation Forest refitted periodically; see the module docstring."""

    kind = "iforest"

    def __init__(self, window: int = 500, refit_every: int = 100, min_fit: int = 50,
                 trees: int = 50, seed: int = 0) -> None:
        super().__init__()
        if min_fit < 8 or window < min_fit:
            raise ValueError("min_fit: must be >= 8 and at most window")
        if refit_every < 1:
            raise ValueError("refit_every: must be >= 1")
        self.window = window
        self.refit_every = refit_every
        self.min_fit = min_fit
        self.trees = trees
        self.seed = seed
        self.dim: int | None = None
        self._recent: deque[list[float]] = deque(maxlen=window)
        self._train: list[list[float]] = []
        self._since_fit = 0
        self._trees: list[_Tree] = []
        self._norm = 1.0
        self._median = 0.0
        self._top = 0.0

    def _reject(self, t: float, x: Any) -> str | None:
        reason = super()._reject(t, 0.0)
        if reason is not None:
            return reason
        if not isinstance(x, Sequence | np.ndarray) or isinstance(x, str):
            return "value is not a vector"
        if self.dim is not None and len(x) != self.dim:
            return f"vector has {len(x)} values, expected {self.dim}"
        if len(x) == 0 or not all(finite(v) for v in x):
            return "vector has a missing or non-finite value"
        return None

    def _coerce(self, x: Any) -> list[float]:
        return [float(v) for v in x]

    def _fit(self, rows: list[list[float]]) -> None:
        from sklearn.ensemble import IsolationForest  # heavy: loaded on the first fit only

        self._train = rows
        forest = IsolationForest(n_estimators=self.trees, random_state=self.seed).fit(np.asarray(rows))
        self._trees = []
        for est, used in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = est.tree_
            self._trees.append((used.tolist(), t.feature.tolist(), t.threshold.tolist(),
                                t.children_left.tolist(), t.children_right.tolist(), t.n_node_samples.tolist()))
        self._norm = len(self._trees) * average_path_length(int(forest.max_samples_))
        train_scores = np.asarray([self.strangeness(r) for r in rows])
        self._median = float(np.median(train_scores))
        self._top = float(np.quantile(train_scores, 0.99))
        self._since_fit = 0

    def strangeness(self, x: Sequence[float]) -> float:
        """The Isolation Forest anomaly score ``2^(-E[h(x)] / c(psi))`` (0.5 is unremarkable)."""
        total = 0.0
        for used, feature, threshold, left, right, size in self._trees:
            node = depth = 0
            while left[node] != -1:
                node = left[node] if x[used[feature[node]]] <= threshold[node] else right[node]
                depth += 1
            total += depth + average_path_length(size[node])
        return 2.0 ** (-total / self._norm)

    def _score(self, t: float, x: list[float]) -> float:
        if self.dim is None:
            self.dim = len(x)
        if len(self._recent) >= self.min_fit and (not self._trees or self._since_fit >= self.refit_every):
            self._fit(list(self._recent))
        score = 0.0
        if self._trees:
            a = self.strangeness(x)
            spread = max(self._top - self._median, 1e-12)
            score = 0.5 * (a - self._median) / spread
            self._since_fit += 1
        self._recent.append(x)
        return score

    def _core_state(self) -> dict[str, Any]:
        return {"dim": self.dim, "recent": [list(r) for r in self._recent], "train": self._train,
                "since_fit": self._since_fit}

    def _restore_core(self, state: dict[str, Any]) -> None:
        self.dim = None if state["dim"] is None else int(state["dim"])
        self._recent = deque(([float(v) for v in r] for r in state["recent"]), maxlen=self.window)
        self._trees = []
        train = [[float(v) for v in r] for r in state["train"]]
        if train:
            self._fit(train)
        self._since_fit = int(state["since_fit"])
