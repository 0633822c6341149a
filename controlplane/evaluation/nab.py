"""The Numenta Anomaly Benchmark (NAB) scoring method, reimplemented from its description.

Owns: windows to row indices, the per-row sweep scores, the corpus-wide
threshold search, and the normalised score. Must not read files (the caller
parses results, labels and profiles) nor import any I/O library.

The method follows NAB's published scorer (numenta/NAB, ``nab/sweeper.py`` and
``nab/runner.py``; MIT-licensed benchmark), including its exact arithmetic:

* The first ``min(floor(0.15 * rows), 0.15 * 5000)`` rows of a file are
  probationary: they are neither true nor false positives, and a window is
  counted (as a miss when undetected) only if it has a row after that period.
* Inside a window of ``width`` rows whose last row is ``right``, row ``i`` has
  relative position ``y = -(right - i + 1) / width`` (-1 at the left edge, just
  below 0 at the right edge) and is worth ``tpWeight * f(y) / f(-1)`` where
  ``f(y) = 2 / (1 + e^(5y)) - 1``; so firing at the left edge earns exactly
  ``tpWeight``. A window counts once, by its best (that is, earliest) detection.
* An undetected window costs ``fnWeight``.
* A detection outside every window costs ``fpWeight * f(y)`` with
  ``y = (i - prev_right) / (prev_width - 1)`` measured from the preceding
  window, and ``f(y) = -1`` (full cost) when ``y >= 3`` or no window precedes.
* Detections are the rows whose score is ``>= threshold``. One threshold per
  detector and profile is chosen over the whole corpus to maximise the summed
  raw score (every distinct score value is tried, plus "never fire").
* ``normalised = 100 * (S - S_null) / (S_perfect - S_null)``, where the null
  detector never fires (``-fnWeight`` per counted window) and the perfect one
  fires at every window's left edge (``tpWeight`` per labelled window).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CostProfile",
    "parse_profiles",
    "probation_length",
    "scaled_sigmoid",
    "window_rows",
    "SweptFile",
    "sweep_file",
    "ProfileScore",
    "threshold_curve",
    "score_corpus",
    "Scores",
]

# One file's anomaly scores, one per row (a list or a NumPy array).
Scores = Sequence[float] | np.ndarray

_PROBATION_FRACTION = 0.15
_PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True, slots=True)
class CostProfile:
    """One NAB application profile: the weights of its cost matrix."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


def parse_profiles(doc: Mapping[str, Any]) -> dict[str, CostProfile]:
    """Profiles from the parsed ``profiles.json`` (``{name: {"CostMatrix": {...}}}``)."""
    out: dict[str, CostProfile] = {}
    for name, body in doc.items():
        try:
            cm = body["CostMatrix"]
            out[name] = CostProfile(name, float(cm["tpWeight"]), float(cm["fpWeight"]), float(cm["fnWeight"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"profiles: {name}.CostMatrix is missing or invalid ({exc!r})") from exc
    if not out:
        raise ValueError("profiles: no profile defined")
    return out


def probation_length(rows: int, fraction: float = _PROBATION_FRACTION) -> int:
    """Rows at the start of a file that are not scored (15%, at most 750)."""
    return int(min(math.floor(fraction * rows), fraction * _PROBATION_CAP_ROWS))


def scaled_sigmoid(y: float) -> float:
    """NAB's ``2 / (1 + e^(5y)) - 1``, and exactly -1 from ``y >= 3`` on."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def window_rows(timestamps: Sequence[Any], windows: Sequence[tuple[Any, Any]], name: str = "") -> list[tuple[int, int]]:
    """First and last row index of each window (inclusive), for sorted ``timestamps``.

    Window limits normally are row timestamps; otherwise the window covers the
    rows between them. A window that covers no row is an error naming it.
    """
    out: list[tuple[int, int]] = []
    for start, end in windows:
        lo = bisect.bisect_left(timestamps, start)
        hi = bisect.bisect_right(timestamps, end) - 1
        if hi < lo:
            raise ValueError(f"labels: window {start}..{end} of {name or 'file'} covers no row")
        if out and lo <= out[-1][1]:
            raise ValueError(f"labels: window {start}..{end} of {name or 'file'} overlaps the previous one")
        out.append((lo, hi))
    return out


@dataclass(slots=True)
class SweptFile:
    """Per-row scoring facts of one file, independent of the profile weights.

    ``window`` is the window number of each row, -1 outside every window and
    -2 in the probationary period. ``tp`` is the normalised true-positive
    value (``f(y)/f(-1)``) of rows in windows; ``fp`` the (negative) sigmoid
    factor of rows outside them.
    """

    name: str
    rows: int
    windows: int
    window: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    counted_windows: list[int] = field(default_factory=list)


def sweep_file(rows: int, windows: Sequence[tuple[int, int]], name: str = "",
               probation_fraction: float = _PROBATION_FRACTION) -> SweptFile:
    """Label every row of a file of ``rows`` rows with its NAB sweep values."""
    window = np.full(rows, -1, dtype=np.int64)
    tp = np.zeros(rows)
    fp = np.zeros(rows)
    prev_right: int | None = None
    prev_width = 0
    cursor = 0
    for k, (lo, hi) in enumerate(windows):
        width = hi - lo + 1
        for i in range(cursor, lo):
            fp[i] = _fp_factor(i, prev_right, prev_width)
        for i in range(lo, hi + 1):
            window[i] = k
            tp[i] = scaled_sigmoid(-(hi - i + 1) / width) / _MAX_TP
        prev_right, prev_width, cursor = hi, width, hi + 1
    for i in range(cursor, rows):
        fp[i] = _fp_factor(i, prev_right, prev_width)
    probation = probation_length(rows, probation_fraction)
    window[:probation] = -2
    counted = sorted({int(w) for w in window[window >= 0]})
    return SweptFile(name, rows, len(windows), window, tp, fp, counted)


def _fp_factor(i: int, prev_right: int | None, prev_width: int) -> float:
    if prev_right is None:
        return -1.0
    # A one-row window would divide by zero; NAB never labels one. Treat as far past.
    if prev_width <= 1:
        return -1.0
    return scaled_sigmoid((i - prev_right) / (prev_width - 1))


@dataclass(frozen=True, slots=True)
class ProfileScore:
    """The corpus result of one detector under one profile."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalised: float
    tp: int
    fp: int
    fn: int
    per_file: dict[str, float]


def _pool(files: Sequence[tuple[SweptFile, Scores]], profile: CostProfile) -> tuple[np.ndarray, ...]:
    scores, wid, value = [], [], []
    offset = 0
    for swept, s in files:
        s = np.asarray(s, dtype=float)
        if s.shape != (swept.rows,):
            raise ValueError(f"results: {swept.name} has {s.shape[0]} scores for {swept.rows} rows")
        keep = swept.window != -2
        w = swept.window[keep]
        scores.append(np.nan_to_num(s[keep], nan=-np.inf))
        wid.append(np.where(w >= 0, w + offset, -1))
        value.append(np.where(w >= 0, profile.tp_weight * swept.tp[keep], profile.fp_weight * swept.fp[keep]))
        offset += swept.windows
    return np.concatenate(scores), np.concatenate(wid), np.concatenate(value)


def _null_score(files: Sequence[tuple[SweptFile, Scores]], profile: CostProfile) -> float:
    return -profile.fn_weight * sum(len(f.counted_windows) for f, _ in files)


def threshold_curve(files: Sequence[tuple[SweptFile, Scores]],
                    profile: CostProfile) -> tuple[np.ndarray, np.ndarray]:
    """Total raw score for every candidate threshold, highest threshold first.

    The first candidate is ``+inf`` (never fire); the others are the distinct
    finite scores, each meaning "fire on every row scoring at least this".
    """
    scores, wid, value = _pool(files, profile)
    order = np.argsort(-scores, kind="stable")
    total = _null_score(files, profile)
    best: dict[int, float] = {}
    thresholds = [math.inf]
    totals = [total]
    s_sorted = scores[order]
    w_sorted = wid[order].tolist()
    v_sorted = value[order].tolist()
    n = len(order)
    for j in range(n):
        w, v = w_sorted[j], v_sorted[j]
        if w < 0:
            total += v
        elif w not in best:
            best[w] = v
            total += profile.fn_weight + v
        elif v > best[w]:
            total += v - best[w]
            best[w] = v
        if (j + 1 == n or s_sorted[j + 1] != s_sorted[j]) and math.isfinite(s_sorted[j]):
            thresholds.append(float(s_sorted[j]))
            totals.append(total)
    return np.asarray(thresholds), np.asarray(totals)


def _file_score(swept: SweptFile, s: Scores, threshold: float, profile: CostProfile) -> tuple[float, int, int, int]:
    fired = (np.asarray(s, dtype=float) >= threshold) & (swept.window != -2)
    outside = fired & (swept.window == -1)
    total = profile.fp_weight * float(swept.fp[outside].sum())
    tp = fn = 0
    for k in swept.counted_windows:
        hits = np.flatnonzero(fired & (swept.window == k))
        if hits.size:
            tp += 1
            total += profile.tp_weight * float(swept.tp[hits[0]])
        else:
            fn += 1
            total -= profile.fn_weight
    return total, tp, int(outside.sum()), fn


def score_corpus(files: Sequence[tuple[SweptFile, Scores]], profile: CostProfile,
                 threshold: float | None = None) -> ProfileScore:
    """Score a corpus of (swept file, anomaly scores); search the threshold unless given."""
    if threshold is None:
        thresholds, totals = threshold_curve(files, profile)
        threshold = float(thresholds[int(np.argmax(totals))])
    per_file: dict[str, float] = {}
    raw = 0.0
    tp = fp = fn = 0
    for swept, s in files:
        score, t, f, m = _file_score(swept, s, threshold, profile)
        per_file[swept.name] = score
        raw += score
        tp, fp, fn = tp + t, fp + f, fn + m
    null = _null_score(files, profile)
    perfect = profile.tp_weight * sum(f.windows for f, _ in files)
    span = perfect - null
    normalised = 100.0 * (raw - null) / span if span else 0.0
    return ProfileScore(profile.name, threshold, raw, null, perfect, normalised, tp, fp, fn, per_file)
