"""Regular grids, bucketing and gap filling: missing slots stay NaN, never 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.forecast.series import bucket_rate, fill_for_estimation, regularize, season_steps


def test_regularize_keeps_gaps_as_nan_and_averages_duplicates() -> None:
    # samples at 0, 10, 10, 40 with step 10: slot 1 averages 2 and 4 -> 3; slots 2-3 were never seen
    g = regularize([0, 10, 10, 40], [1.0, 2.0, 4.0, 5.0], step_s=10)
    assert g.t0 == 0 and g.step_s == 10 and g.t_last == 40
    assert g.values[0] == 1.0 and g.values[1] == 3.0 and g.values[4] == 5.0
    assert math.isnan(g.values[2]) and math.isnan(g.values[3])
    assert g.n_missing == 2


def test_regularize_infers_step_and_turns_nan_inf_into_missing() -> None:
    g = regularize([0, 30, 60, 90], [1.0, float("nan"), float("inf"), 2.0])
    assert g.step_s == 30
    assert g.n_missing == 2


@pytest.mark.parametrize(
    ("t", "y", "step", "field"),
    [
        ([0], [1.0], None, "t"),
        ([0, 1, 2], [1.0, 2.0], None, "y"),
        ([5, 5], [1.0, 2.0], None, "t"),
        ([0, 1], [1.0, 2.0], -1.0, "step_s"),
        ([0, 1], ["a", "b"], None, "y"),
    ],
    ids=["one-sample", "lengths-differ", "equal-times", "negative-step", "not-numbers"],
)
def test_regularize_errors_name_the_field(t, y, step, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=f"^{field}:"):
        regularize(t, y, step)


def test_bucket_rate_counts_per_second_stamped_at_bucket_end() -> None:
    # arrivals 0.5, 1, 1.5 in (0, 2]; 2.5 and 3.9 in (2, 4]; 30 tokens total in the second bucket
    g = bucket_rate(np.array([0.5, 1.0, 1.5, 2.5, 3.9]), 2.0, start_s=0.0, end_s=4.0)
    assert g.t0 == 2.0 and list(g.values) == [1.5, 1.0]
    tok = bucket_rate(np.array([0.5, 2.5, 3.9]), 2.0, weights=np.array([4, 10, 20]), start_s=0.0, end_s=4.0)
    assert list(tok.values) == [2.0, 15.0]


def test_fill_for_estimation_prefers_last_season_then_interpolates() -> None:
    v = np.array([1.0, 2.0, 3.0, np.nan, 5.0, np.nan])
    # m=3: slot 3 takes slot 0 (1.0), slot 5 takes slot 2 (3.0)
    assert list(fill_for_estimation(v, 3)) == [1.0, 2.0, 3.0, 1.0, 5.0, 3.0]
    # no season: straight line 3 -> 5 gives 4; the trailing gap takes the edge value 5
    assert list(fill_for_estimation(v)) == [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="^y:"):
        fill_for_estimation(np.array([np.nan, np.nan]))


@pytest.mark.parametrize(("season", "step", "want"), [(86400, 600, 144), (86400, 7, None), (60, 60, None)],
                         ids=["day-of-10min", "not-whole", "one-slot"])
def test_season_steps(season: float, step: float, want: int | None) -> None:
    assert season_steps(season, step) == want
