"""Leave-one-group-out cross-validation of detector settings under the NAB scorer.

Owns: per-group threshold curves, choosing a setting and its threshold on the
training groups, and scoring the held-out group with them. Must not read files
nor import any I/O library; the caller supplies swept files and scores.

For every fold one group (a NAB category) is held out. Every candidate setting
is scored on the remaining groups over every threshold; the (setting,
threshold) pair with the highest summed raw NAB score there is kept, and only
then is the held-out group scored with it. A group's threshold curve is a step
function of the threshold, so the training curve of a fold is the sum of its
groups' curves read at the union of their thresholds: each setting's curve is
computed once per group, and every fold is a few array look-ups.

A group without labelled windows (NAB's ``artificialNoAnomaly``) has no
normalised score of its own (its null and perfect scores are both 0); its fold
reports the raw score and the false positives. The pooled figure adds raw,
null and perfect scores over all held-out groups and normalises once, so those
false positives count against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from controlplane.evaluation.nab import CostProfile, Scores, SweptFile, _null_score, _pool, score_corpus

__all__ = ["Curve", "group_curve", "best_on", "Fold", "CrossValidation", "cross_validate"]


@dataclass(frozen=True, slots=True)
class Curve:
    """Total raw score of a group per threshold; thresholds descending, the first ``+inf``."""

    thresholds: np.ndarray
    totals: np.ndarray

    def at(self, thresholds: np.ndarray) -> np.ndarray:
        """The total when firing on scores ``>=`` each given threshold."""
        # Candidates at or above a threshold: the last of them fixes the total.
        idx = np.searchsorted(-self.thresholds, -thresholds, side="right") - 1
        return self.totals[np.maximum(idx, 0)]


def group_curve(files: Sequence[tuple[SweptFile, Scores]], profile: CostProfile) -> Curve:
    """The same curve as :func:`~controlplane.evaluation.nab.threshold_curve`, in array operations.

    Rows are taken highest score first. A row outside every window adds its
    (negative) value. Within a window, the running best value is a running
    maximum; each row adds what it raises that maximum by, and the window's
    first row also takes back the miss cost. Totals are read where a run of
    equal scores ends.
    """
    scores, wid, value = _pool(files, profile)
    order = np.argsort(-scores, kind="stable")
    s, w, v = scores[order], wid[order], value[order]
    gain = np.where(w < 0, v, 0.0)
    inside = np.flatnonzero(w >= 0)
    if inside.size:
        by_window = inside[np.argsort(w[inside], kind="stable")]
        ww, vv = w[by_window], v[by_window]
        # Offsetting each window above every value of the previous ones turns a running
        # maximum over the whole array into a running maximum per window.
        lift = (ww - ww.min()) * (2.0 * (np.abs(vv).max() + 1.0))
        best = np.maximum.accumulate(vv + lift) - lift
        first = np.r_[True, ww[1:] != ww[:-1]]
        step = np.where(first, profile.fn_weight + best, best - np.r_[0.0, best[:-1]])
        gain[by_window] = step
    totals = _null_score(files, profile) + np.cumsum(gain)
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True] & np.isfinite(s))
    return Curve(np.r_[math.inf, s[ends]], np.r_[_null_score(files, profile), totals[ends]])


def best_on(curves: Sequence[Curve]) -> tuple[float, float]:
    """``(threshold, summed total)`` maximising the sum of the given curves (highest threshold on ties)."""
    if not curves:
        raise ValueError("groups: no training group")
    union = np.unique(np.concatenate([c.thresholds for c in curves]))[::-1]
    total = np.sum([c.at(union) for c in curves], axis=0)
    k = int(np.argmax(total))
    return float(union[k]), float(total[k])


@dataclass(frozen=True, slots=True)
class Fold:
    """One held-out group: what was chosen without it, and how that scored on it."""

    group: str
    setting: str
    threshold: float
    train_normalised: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int

    @property
    def normalised(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else math.nan


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """The folds, and the same choice made on every group (``in_sample_*``: in-sample figures)."""

    profile: str
    folds: tuple[Fold, ...]
    in_sample_setting: str
    in_sample_threshold: float
    in_sample_normalised: float

    @property
    def pooled(self) -> float:
        """Normalised score of all held-out groups together (each scored by its own fold's choice)."""
        raw = sum(f.raw for f in self.folds)
        null = sum(f.null for f in self.folds)
        perfect = sum(f.perfect for f in self.folds)
        return 100.0 * (raw - null) / (perfect - null) if perfect != null else math.nan

    @property
    def mean(self) -> float:
        """Mean normalised score of the folds that have one (a group with windows)."""
        values = [f.normalised for f in self.folds if math.isfinite(f.normalised)]
        return float(np.mean(values)) if values else math.nan


def cross_validate(
    groups: Mapping[str, Sequence[SweptFile]],
    settings: Sequence[str],
    scores_of: Callable[[str], Mapping[str, Scores]],
    profiles: Sequence[CostProfile],
    select: str = "fit",
) -> dict[str, CrossValidation]:
    """Leave each group out in turn, for every profile; ``scores_of(setting)[file name]`` are the scores.

    ``select`` is how a fold ranks the settings on its training groups:
    ``fit``, by their total there at their best threshold (NAB's way of
    choosing a threshold, extended to the settings); ``transfer``, by an inner
    leave-one-group-out inside the training groups (each inner group scored at
    the threshold chosen on the others), which prefers settings whose
    threshold carries over to data it was not chosen on. The threshold is then
    chosen on all training groups either way.

    Settings are scored one at a time (only their fold totals are kept, so
    memory does not grow with the number of settings) and tried in the given
    order; on equal training totals the first wins, so the outcome never
    depends on the held-out group. The winners are scored once more for their
    counts of hits, false alarms and misses.
    """
    if len(groups) < 2:
        raise ValueError("groups: cross-validation needs at least two groups")
    if not settings:
        raise ValueError("settings: no candidate setting")
    if select not in ("fit", "transfer"):
        raise ValueError(f"select: {select!r} is not 'fit' or 'transfer'")
    names = list(groups)
    trains = [[g for g in names if g != held] for held in names] + [names]
    # best[profile][fold] = (rank, setting, threshold, training total); the last fold is "train on all".
    best: dict[str, list[tuple[float, str, float, float] | None]] = {p.name: [None] * len(trains) for p in profiles}
    for setting in settings:
        by_file = scores_of(setting)
        for profile in profiles:
            curves = {}
            for group, files in groups.items():
                try:
                    pairs = [(f, by_file[f.name]) for f in files]
                except KeyError as exc:
                    raise ValueError(f"scores: setting {setting!r} has no scores for {exc.args[0]!r}") from None
                curves[group] = group_curve(pairs, profile)
            row = best[profile.name]
            for k, train in enumerate(trains):
                threshold, total = best_on([curves[g] for g in train])
                rank = total if select == "fit" or len(train) < 2 else _transfer(curves, train)
                current = row[k]
                if current is None or rank > current[0]:
                    row[k] = (rank, setting, threshold, total)
    out = {}
    for profile in profiles:
        folds = []
        chosen = best[profile.name]
        for k, held in enumerate(names):
            entry = chosen[k]
            assert entry is not None
            _, setting, threshold, total = entry
            held_files = [(f, scores_of(setting)[f.name]) for f in groups[held]]
            result = score_corpus(held_files, profile, threshold=threshold)
            folds.append(Fold(held, setting, threshold, _normalised(total, groups, trains[k], profile),
                              result.raw, result.null, result.perfect, result.tp, result.fp, result.fn))
        last = chosen[-1]
        assert last is not None
        out[profile.name] = CrossValidation(profile.name, tuple(folds), last[1], last[2],
                                            _normalised(last[3], groups, names, profile))
    return out


def _transfer(curves: Mapping[str, Curve], train: Sequence[str]) -> float:
    """Summed raw score of each training group at the threshold chosen on the other training groups."""
    total = 0.0
    for inner in train:
        threshold, _ = best_on([curves[g] for g in train if g != inner])
        total += float(curves[inner].at(np.asarray([threshold]))[0])
    return total


def _normalised(total: float, groups: Mapping[str, Sequence[SweptFile]], train: Sequence[str],
                profile: CostProfile) -> float:
    null = -profile.fn_weight * sum(len(f.counted_windows) for g in train for f in groups[g])
    perfect = profile.tp_weight * sum(f.windows for g in train for f in groups[g])
    return 100.0 * (total - null) / (perfect - null) if perfect != null else math.nan
