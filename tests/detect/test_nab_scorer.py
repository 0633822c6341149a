"""NAB scorer on hand-worked examples.

Every example uses a 40-row file: the probationary period is
min(floor(0.15 * 40), 750) = 6 rows (0..5), and the one window covers rows
20..24 (width 5). f(y) = 2 / (1 + e^(5y)) - 1, f(-1) = 0.986614.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.evaluation import nab

STANDARD = nab.CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
LOW_FN = nab.CostProfile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0)
ROWS = 40
WINDOW = (20, 24)


def scores_at(*rows: int, value: float = 1.0) -> np.ndarray:
    s = np.zeros(ROWS)
    s[list(rows)] = value
    return s


def one_file(scores: np.ndarray, windows: list[tuple[int, int]] | None = None) -> list:
    return [(nab.sweep_file(ROWS, [WINDOW] if windows is None else windows, "f.csv"), scores)]


@pytest.mark.parametrize(
    ("name", "fired", "raw"),
    [
        # Left edge: y = -(24 - 20 + 1) / 5 = -1, f(-1) / f(-1) = 1 -> tpWeight.
        ("left edge", (20,), 1.0),
        # Right edge: y = -(24 - 24 + 1) / 5 = -0.2, f(-0.2) = 0.462117, / 0.986614 = 0.468387.
        ("right edge", (24,), 0.468387),
        # Middle: y = -(24 - 22 + 1) / 5 = -0.6, f(-0.6) / f(-1) = 0.917429.
        ("middle", (22,), 0.917429),
        # Only the first detection in a window counts: 20 scores 1.0; 24 adds nothing.
        ("two in window", (20, 24), 1.0),
        # FP just after the window: y = (25 - 24) / (5 - 1) = 0.25, f = -0.554600, * 0.11 = -0.061006;
        # the window is missed: -1.
        ("fp just after", (25,), -1.061006),
        # FP far after: y = (36 - 24) / 4 = 3 -> full cost -0.11; plus the miss.
        ("fp far after", (36,), -1.11),
        # FP with no window before it: full cost -0.11; plus the miss.
        ("fp before any window", (10,), -1.11),
        # Probationary rows (0..5) are neither TP nor FP: only the miss counts.
        ("probationary ignored", (2, 5), -1.0),
        ("null", (), -1.0),
    ],
)
def test_single_window_cases(name: str, fired: tuple[int, ...], raw: float) -> None:
    r = nab.score_corpus(one_file(scores_at(*fired)), STANDARD, threshold=0.5)
    assert r.raw == pytest.approx(raw, abs=1e-6), name
    assert r.null == -1.0
    assert r.perfect == 1.0


def test_normalisation_null_perfect_and_between() -> None:
    # Null never fires: S = S_null -> 0. Perfect fires at the left edge: S = 1 -> 100.
    null = nab.score_corpus(one_file(scores_at()), STANDARD)
    perfect = nab.score_corpus(one_file(scores_at(20)), STANDARD)
    assert (null.normalised, perfect.normalised) == (0.0, 100.0)
    # Right edge: 100 * (0.468387 + 1) / (1 + 1) = 73.42.
    right = nab.score_corpus(one_file(scores_at(24)), STANDARD)
    assert right.normalised == pytest.approx(73.419, abs=1e-3)
    # Low-FN profile: null = -2, so 100 * (0.468387 + 2) / (1 + 2) = 82.28.
    right_fn = nab.score_corpus(one_file(scores_at(24)), LOW_FN)
    assert right_fn.null == -2.0
    assert right_fn.normalised == pytest.approx(82.279, abs=1e-3)


def test_threshold_is_searched_over_distinct_scores() -> None:
    # Row 10 (FP, score 0.9) and row 20 (left edge, score 0.5). Candidates:
    # never: -1; >= 0.9: -0.11 - 1 = -1.11; >= 0.5: -0.11 + 1 = 0.89 -> best;
    # >= 0 fires on every scored row, costing a false positive each.
    s = scores_at()
    s[10], s[20] = 0.9, 0.5
    thresholds, totals = nab.threshold_curve(one_file(s), STANDARD)
    assert list(thresholds) == [math.inf, 0.9, 0.5, 0.0]
    assert list(totals[:3]) == pytest.approx([-1.0, -1.11, 0.89])
    assert totals[3] < 0.89
    r = nab.score_corpus(one_file(s), STANDARD)
    assert (r.threshold, r.tp, r.fp, r.fn) == (0.5, 1, 1, 0)
    assert r.normalised == pytest.approx(94.5)


def test_one_threshold_for_the_whole_corpus() -> None:
    # File A: FP at 0.9, left edge at 0.5. File B: no window, ten rows at 0.6.
    # never: -1; >= 0.9: -1.11; >= 0.6: -1.11 - 1.1 = -2.21; >= 0.5: 0.89 - 1.1 = -0.21 -> best.
    a = scores_at()
    a[10], a[20] = 0.9, 0.5
    b = np.zeros(ROWS)
    b[10:20] = 0.6
    corpus = one_file(a) + [(nab.sweep_file(ROWS, [], "b.csv"), b)]
    r = nab.score_corpus(corpus, STANDARD)
    assert r.threshold == 0.5
    assert r.raw == pytest.approx(-0.21)
    assert r.per_file == pytest.approx({"f.csv": 0.89, "b.csv": -1.1})
    assert r.normalised == pytest.approx(100 * (-0.21 + 1) / 2)


def test_window_inside_probation_is_not_counted_as_a_miss() -> None:
    swept = nab.sweep_file(ROWS, [(1, 4)], "p.csv")
    assert swept.counted_windows == []
    r = nab.score_corpus([(swept, scores_at())], STANDARD)
    assert r.null == 0.0
    assert r.fn == 0


def test_probation_length_is_capped_at_750_rows() -> None:
    assert [nab.probation_length(n) for n in (40, 4032, 5000, 22000)] == [6, 604, 750, 750]


def test_window_rows_from_timestamps_and_errors() -> None:
    stamps = list(range(0, 100, 10))
    assert nab.window_rows(stamps, [(20, 40), (55, 75)]) == [(2, 4), (6, 7)]
    with pytest.raises(ValueError, match="covers no row"):
        nab.window_rows(stamps, [(41, 49)], "x.csv")
    with pytest.raises(ValueError, match="overlaps"):
        nab.window_rows(stamps, [(20, 40), (30, 50)], "x.csv")


def test_profiles_parse_and_name_bad_fields() -> None:
    doc = {"standard": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0}}}
    assert nab.parse_profiles(doc)["standard"] == STANDARD
    with pytest.raises(ValueError, match="standard.CostMatrix"):
        nab.parse_profiles({"standard": {"CostMatrix": {"tpWeight": 1.0}}})


def test_wrong_score_count_is_an_error_naming_the_file() -> None:
    with pytest.raises(ValueError, match="f.csv has 3 scores for 40 rows"):
        nab.score_corpus([(nab.sweep_file(ROWS, [WINDOW], "f.csv"), np.zeros(3))], STANDARD)
