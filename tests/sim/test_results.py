"""Run figures on a hand-made result: SLO shares, quantiles, GPU-hours, flapping, series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.sim.results import RunResult, SloTargets, reversals


def _run() -> RunResult:
    nan = math.nan
    return RunResult(
        name="hand",
        arrival_s=np.array([10.0, 20.0, 70.0, 80.0]),
        ttft=np.array([0.5, 1.5, 3.0, nan]),  # the last never got a first token
        e2e=np.array([1.0, 2.0, 4.0, nan]),
        itl=np.array([0.05, 0.2, 0.0, nan]),
        created=np.array([0.0, 30.0, 60.0]),
        ended=np.array([nan, 90.0, nan]),
        horizon=120.0,
        replica_log=[(0.0, 1, 1), (30.0, 3, 1), (90.0, 2, 2)],
        scale_events=[(30.0, 1, 3), (90.0, 3, 2)],
        peak_waiting=7.0,
        clipped=0,
    )


def test_summary_figures() -> None:
    s = _run().summary(SloTargets(ttft_s=2.0, itl_s=0.1, e2e_s=3.0, objective=0.5))
    assert s["ttft_within_slo"] == 0.5  # 0.5 and 1.5 of 4; the unfinished one misses
    assert s["itl_within_slo"] == 0.5  # 0.05 and 0.0
    assert s["e2e_within_slo"] == 0.5  # 1.0 and 2.0
    assert s["meets_slo"] is True  # 0.5 >= objective 0.5
    assert s["unfinished"] == 1
    # replica-seconds: 120 (alive to the end) + (90 - 30) + (120 - 60) = 240 -> 240/3600 GPU-h
    assert s["replica_seconds"] == 240.0
    assert s["gpu_hours"] == pytest.approx(240.0 / 3600.0)
    assert s["ttft_p50_s"] == pytest.approx(1.5)  # over the three that had a first token
    assert s["scale_events"] == 2 and s["reversals"] == 1
    assert s["peak_queue"] == 7.0 and s["peak_replicas"] == 3


def test_series_per_minute() -> None:
    series = _run().series(60.0)
    assert series["t_s"] == [0.0, 60.0]
    assert series["load_rps"] == [2 / 60, 2 / 60]
    # minute 0: 1 replica for 30 s then 3 for 30 s -> 2.0; minute 1: 3 for 30 s, 2 for 30 s -> 2.5
    assert series["replicas"] == [2.0, 2.5]
    assert series["ready_replicas"] == [1.0, 1.5]
    # minute 1 holds TTFTs 3.0 and "never": its p95 is unbounded, reported as None
    assert series["ttft_p95_s"][0] == pytest.approx(0.5 + 0.95 * 1.0)
    assert series["ttft_p95_s"][1] is None


@pytest.mark.parametrize(
    "case,events,expected",
    [
        ("monotone up", [(0, 1, 2), (1, 2, 4)], 0),
        ("up down up", [(0, 1, 3), (1, 3, 2), (2, 2, 4)], 2),
        ("none", [], 0),
    ],
)
def test_reversals(case: str, events: list[tuple[float, int, int]], expected: int) -> None:
    assert reversals(events) == expected, case
