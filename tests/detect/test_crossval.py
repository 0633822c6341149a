"""Leave-one-group-out cross-validation under the NAB scorer, and the cached composition of settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.bench._anomaly_cv import compose
from controlplane.detect.ensemble import EnsembleSetting, member
from controlplane.evaluation import crossval, nab

STANDARD = nab.CostProfile("standard", 1.0, 0.11, 1.0)


def _random_corpus(rng: np.random.Generator, files: int) -> list[tuple[nab.SweptFile, np.ndarray]]:
    out = []
    for k in range(files):
        n = int(rng.integers(60, 300))
        lo = int(rng.integers(10, n // 2))
        wins = [(lo, lo + int(rng.integers(2, 15)))]
        out.append((nab.sweep_file(n, wins, f"f{k}"), np.round(rng.random(n), int(rng.integers(1, 3)))))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_array_curve_equals_the_scorer_sweep(seed: int) -> None:
    files = _random_corpus(np.random.default_rng(seed), 4)
    thresholds, totals = nab.threshold_curve(files, STANDARD)
    curve = crossval.group_curve(files, STANDARD)
    assert np.array_equal(curve.thresholds, thresholds)
    assert np.allclose(curve.totals, totals)


def test_summed_curves_find_the_pooled_best_threshold() -> None:
    rng = np.random.default_rng(3)
    a, b = _random_corpus(rng, 3), _random_corpus(rng, 3)
    threshold, total = crossval.best_on([crossval.group_curve(a, STANDARD), crossval.group_curve(b, STANDARD)])
    pooled = nab.score_corpus(a + b, STANDARD)
    assert total == pytest.approx(pooled.raw)
    assert nab.score_corpus(a + b, STANDARD, threshold=threshold).raw == pytest.approx(pooled.raw)


def _two_settings_corpus() -> tuple[dict[str, list[nab.SweptFile]], dict[str, dict[str, np.ndarray]]]:
    # Three groups of one file, a window at rows 50-59. Setting "early" fires at the window's
    # left edge in every group; "late" fires only after the window (a false positive).
    groups: dict[str, list[nab.SweptFile]] = {}
    scores: dict[str, dict[str, np.ndarray]] = {"late": {}, "early": {}}
    for g in ("a", "b", "c"):
        groups[g] = [nab.sweep_file(200, [(50, 59)], f"{g}/x.csv")]
        early, late = np.zeros(200), np.zeros(200)
        early[50], late[150] = 1.0, 1.0
        scores["early"][f"{g}/x.csv"], scores["late"][f"{g}/x.csv"] = early, late
    return groups, scores


def test_each_fold_keeps_the_setting_that_wins_on_the_other_groups() -> None:
    groups, scores = _two_settings_corpus()
    cv = crossval.cross_validate(groups, ["late", "early"], scores.__getitem__, [STANDARD])["standard"]
    assert [f.setting for f in cv.folds] == ["early"] * 3
    # Firing at the left edge of every window is the perfect detector: 100 on every fold.
    assert [f.normalised for f in cv.folds] == [pytest.approx(100.0)] * 3
    assert cv.pooled == pytest.approx(100.0) and cv.mean == pytest.approx(100.0)
    assert cv.in_sample_setting == "early"


def test_the_held_out_group_never_influences_its_own_fold() -> None:
    groups, scores = _two_settings_corpus()
    # Make "late" perfect on group c only: fold c must still choose on a and b ("early").
    scores["late"]["c/x.csv"] = scores["early"]["c/x.csv"].copy()
    scores["early"]["c/x.csv"] = np.zeros(200)
    cv = crossval.cross_validate(groups, ["late", "early"], scores.__getitem__, [STANDARD])["standard"]
    fold_c = cv.folds[2]
    assert fold_c.group == "c" and fold_c.setting == "early"
    assert fold_c.fn == 1 and fold_c.normalised == pytest.approx(0.0)


def test_a_group_without_windows_has_no_normalised_score_but_counts_in_the_pool() -> None:
    groups, scores = _two_settings_corpus()
    groups["quiet"] = [nab.sweep_file(200, [], "quiet/y.csv")]
    noisy = np.zeros(200)
    noisy[100] = 1.0
    scores["early"]["quiet/y.csv"] = scores["late"]["quiet/y.csv"] = noisy
    cv = crossval.cross_validate(groups, ["early", "late"], scores.__getitem__, [STANDARD])["standard"]
    quiet = cv.folds[-1]
    assert math.isnan(quiet.normalised) and quiet.fp == 1 and quiet.raw == pytest.approx(-0.11)
    # Pooled: raw 3 - 0.11 over null -3 and perfect 3.
    assert cv.pooled == pytest.approx(100.0 * (3 - 0.11 + 3) / 6)


@pytest.mark.parametrize("setting", [
    EnsembleSetting(),
    EnsembleSetting(levels=(5,), tail_weight=0.0, rest_ticks=0),
    EnsembleSetting(levels=(4, 5, 6), likelihood_short=10, rest_ticks=100),
    EnsembleSetting(seasonal_weight=0.1),
], ids=lambda s: s.label)
def test_composed_scores_equal_the_built_detector(setting: EnsembleSetting) -> None:
    rng = np.random.default_rng(11)
    values = 10 + rng.standard_normal(600)
    values[400:420] += 8
    times = [1_700_000_000.0 + 300 * i for i in range(600)]
    members = {name: {"f": np.asarray([d.update(t, v) for t, v in zip(times, values, strict=True)])}
               for name, _ in setting.member_specs() for d in [member(name)]}
    det = setting.build()
    direct = np.round([det.update(t, v) for t, v in zip(times, values, strict=True)], 6)
    assert np.array_equal(compose(setting, members, "f"), direct)
    assert direct.max() > 0.5  # the shift at row 400 is seen, so the comparison is not of zeros


def test_transfer_ranking_prefers_the_setting_whose_threshold_carries_over() -> None:
    # Four groups, one file each, a window at rows 50-59. "steady" always fires mid-window
    # (row 55, worth f(-0.5)/f(-1) = 0.86) at score 0.8. "tuned" fires at the left edge
    # (worth 1) but its detection score drifts by group (0.9, 0.7, 0.5, 0.3), each with a
    # far false positive just below it (-0.11). On a, b, c "tuned" fits best at threshold
    # 0.5 (1 + 1 + 1 - 0.22 = 2.78 against 2.58), yet that threshold misses d.
    groups: dict[str, list[nab.SweptFile]] = {}
    scores: dict[str, dict[str, np.ndarray]] = {"tuned": {}, "steady": {}}
    for g, level in zip("abcd", (0.9, 0.7, 0.5, 0.3), strict=True):
        name = f"{g}/x.csv"
        groups[g] = [nab.sweep_file(200, [(50, 59)], name)]
        tuned, steady = np.zeros(200), np.zeros(200)
        tuned[50], tuned[150], steady[55] = level, level - 0.05, 0.8
        scores["tuned"][name], scores["steady"][name] = tuned, steady
    fit = crossval.cross_validate(groups, ["tuned", "steady"], scores.__getitem__, [STANDARD])["standard"]
    transfer = crossval.cross_validate(groups, ["tuned", "steady"], scores.__getitem__, [STANDARD],
                                       select="transfer")["standard"]
    held_d = [f for f in fit.folds if f.group == "d"][0]
    assert held_d.setting == "tuned" and held_d.fn == 1
    assert all(f.setting == "steady" for f in transfer.folds)
    assert transfer.pooled > fit.pooled


def test_unknown_selection_is_an_error_naming_it() -> None:
    groups, scores = _two_settings_corpus()
    with pytest.raises(ValueError, match="select"):
        crossval.cross_validate(groups, ["early"], scores.__getitem__, [STANDARD], select="best")
