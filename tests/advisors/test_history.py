"""RateHistory: gaps stay gaps, no time travel, mean request size, JSON round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.advisors.history import RateHistory
from controlplane.signals import Reading, Signals


def _sig(t: float, req: float | None, prompt: float | None = None, gen: float | None = None) -> Signals:
    def r(v: float | None) -> Reading:
        return Reading.missing("no series") if v is None else Reading.of(v, at=t)

    return Signals(target="t", collected_at=t, request_rate=r(req), prompt_tokens_rate=r(prompt),
                   generation_tokens_rate=r(gen))


def test_missing_reading_is_nan_never_zero() -> None:
    h = RateHistory()
    h.observe(0, _sig(0, 2.0))
    h.observe(15, _sig(15, None))
    h.observe(30, _sig(30, float("nan")))
    h.observe(45, _sig(45, -1.0))
    t, y = h.series()
    assert t.tolist() == [0, 15, 30, 45]
    assert y[0] == 2.0
    assert all(math.isnan(v) for v in y[1:])


def test_older_or_equal_samples_are_ignored() -> None:
    h = RateHistory()
    h.observe(30, _sig(30, 1.0))
    h.observe(30, _sig(30, 5.0))
    h.observe(15, _sig(15, 5.0))
    assert h.series()[1].tolist() == [1.0]


def test_old_samples_age_out() -> None:
    h = RateHistory(max_age_s=60)
    for t in range(0, 181, 15):
        h.observe(t, _sig(t, 1.0))
    assert h.series()[0][0] == 120  # 180 - 60


def test_since_returns_only_newer() -> None:
    h = RateHistory()
    for t in (0, 15, 30, 45):
        h.observe(t, _sig(t, float(t)))
    t, y = h.since(15)
    assert t.tolist() == [30, 45] and y.tolist() == [30, 45]


def test_mean_sizes_weighted_by_rate() -> None:
    # tick 1: 2 req/s, 2000 prompt tok/s, 400 gen tok/s; tick 2: 1 req/s, 4000, 100; tick 3 misses gen.
    # sums: 3 req/s, 6000 prompt, 500 gen -> 2000 prompt and 166.7 output tokens per request.
    h = RateHistory()
    h.observe(0, _sig(0, 2.0, 2000.0, 400.0))
    h.observe(15, _sig(15, 1.0, 4000.0, 100.0))
    h.observe(30, _sig(30, 9.0, 9.0, None))
    p, o = h.mean_sizes(30, 3600)  # type: ignore[misc]
    assert p == pytest.approx(2000.0) and o == pytest.approx(500 / 3)


def test_mean_sizes_none_when_idle() -> None:
    h = RateHistory()
    h.observe(0, _sig(0, 0.0, 0.0, 0.0))
    assert h.mean_sizes(0) is None


def test_round_trip_keeps_gaps() -> None:
    h = RateHistory()
    h.observe(0, _sig(0, 1.0, 100.0, 10.0))
    h.observe(15, _sig(15, None))
    h2 = RateHistory.from_dict(h.to_dict())
    t, y = h2.series()
    assert t.tolist() == [0, 15] and y[0] == 1.0 and np.isnan(y[1])


def test_bad_rows_name_the_field() -> None:
    with pytest.raises(ValueError, match="history.rows"):
        RateHistory.from_dict({"max_age_s": 60, "rows": [[1, 2]]})
    with pytest.raises(ValueError, match="series"):
        RateHistory().series("tokens")
