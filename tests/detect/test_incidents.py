"""Serving incidents: seeded plans, how each fault shows in the per-tick signals, and scoring alert onsets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.capacity.profile import get_profile
from controlplane.evaluation import incidents as inc
from controlplane.evaluation.nab import CostProfile

H100 = get_profile("llama-3.1-8b-h100")
STANDARD = CostProfile("standard", 1.0, 0.11, 1.0)
FAULT_AT, FAULT_FOR = 3600.0, 600.0


def _traffic(rate: float = 4.0, hours: float = 2.0, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rate * hours * 3600)
    t = np.sort(rng.uniform(0, hours * 3600, n))
    return t, rng.integers(200, 2000, n), rng.integers(5, 60, n)


def _run(*faults: inc.Fault) -> list[inc.Tick]:
    return list(inc.replay(*_traffic(), list(faults), H100))


def _values(ticks: list[inc.Tick], name: str, lo: float, hi: float) -> list[float]:
    """The readings of ``name`` at ticks in (lo, hi]; every one must be present."""
    out = [getattr(k.signals, name).value for k in ticks if lo < k.now <= hi]
    assert out and all(v is not None for v in out), name
    return [float(v) for v in out]


def _during(ticks: list[inc.Tick], name: str) -> list[float]:
    return _values(ticks, name, FAULT_AT + 120, FAULT_AT + FAULT_FOR)


def _before(ticks: list[inc.Tick], name: str) -> list[float]:
    return _values(ticks, name, FAULT_AT - 1200, FAULT_AT)


def test_plan_is_seeded_spaced_and_after_the_warm_up() -> None:
    faults, bursts = inc.plan(2 * 86400.0, seed=3)
    assert (faults, bursts) == inc.plan(2 * 86400.0, seed=3)
    assert faults != inc.plan(2 * 86400.0, seed=4)[0]
    assert {f.kind for f in faults} == set(inc.FAULT_KINDS)
    starts = sorted(f.start_s for f in faults)
    assert starts[0] >= 4 * 3600 and all(b - a >= 2 * 3600 for a, b in zip(starts, starts[1:], strict=False))
    assert len(bursts) == 16 and all(2 <= b.factor <= 4 for b in bursts)


def test_bursts_add_arrivals_only_inside_them() -> None:
    t, p, o = _traffic(hours=1.0)
    burst = inc.Burst(1200.0, 300.0, 3.0)
    t2, p2, o2 = inc.with_bursts(t, p, o, [burst], seed=1)
    inside = lambda a: int(((a >= 1200) & (a <= 1500)).sum())  # noqa: E731
    assert inside(t2) == pytest.approx(3 * inside(t), rel=0.15)
    assert int((t2 < 1200).sum()) == int((t < 1200).sum())
    assert np.all(np.diff(t2) >= 0) and len(p2) == len(o2) == len(t2)


def test_a_healthy_fleet_reads_every_signal_and_no_errors() -> None:
    ticks = _run()
    late = ticks[10:]
    assert all(k.status.ready == 2 for k in late)
    for name in ("ttft_p95", "itl_p95", "e2e_p95", "waiting_requests", "kv_cache_usage_max", "error_ratio"):
        assert all(getattr(k.signals, name).ok for k in late), name
    assert max(k.signals.error_ratio.value or 0.0 for k in late) == 0.0
    assert 3.0 < float(np.mean([k.signals.request_rate.value for k in late])) < 5.0  # 4 req/s offered


def test_errors_fault_raises_error_ratio_and_log_errors_on_one_replica() -> None:
    ticks = _run(inc.Fault("errors", FAULT_AT, FAULT_FOR, 0.5, replica=1))
    ratios = _during(ticks, "error_ratio")
    # Half of one replica's share of the traffic: about a quarter of all requests.
    assert 0.15 < float(np.mean(ratios)) < 0.35
    assert min(_during(ticks, "log_error_rate")) > 0.5
    assert max(_before(ticks, "error_ratio")) == 0.0


def test_latency_fault_slows_the_replica() -> None:
    ticks = _run(inc.Fault("latency", FAULT_AT, FAULT_FOR, 6.0))
    assert np.median(_during(ticks, "itl_p95")) > 3 * np.median(_before(ticks, "itl_p95"))


def test_hang_removes_the_replica_and_its_metrics_then_restarts_it() -> None:
    ticks = _run(inc.Fault("hang", FAULT_AT, FAULT_FOR, 1.0))
    ready = [k.status.ready for k in ticks if FAULT_AT < k.now <= FAULT_AT + FAULT_FOR]
    assert set(ready) == {1}
    back = [k.status.ready for k in ticks if k.now > FAULT_AT + FAULT_FOR + H100.startup_s + 15]
    assert set(back) == {2}
    # Every request reaches the survivor once readiness fails: its rate stays near what is offered.
    assert float(np.mean(_during(ticks, "request_rate"))) < float(np.mean(_before(ticks, "request_rate")))


def test_crash_logs_an_error_and_the_replica_is_gone_until_restarted() -> None:
    ticks = _run(inc.Fault("crash", FAULT_AT, inc.RESTART_S, 1.0))
    first = next(k for k in ticks if k.now > FAULT_AT)
    assert first.signals.log_error_rate.value and first.signals.log_error_rate.value >= 1 / 60
    assert first.status.ready == 1
    assert all(k.status.ready == 2 for k in ticks if k.now > FAULT_AT + inc.RESTART_S + H100.startup_s + 15)


def test_kv_leak_counts_lost_tokens_as_used() -> None:
    ticks = _run(inc.Fault("kv_leak", FAULT_AT, FAULT_FOR, 0.8))
    end = _values(ticks, "kv_cache_usage_max", FAULT_AT + FAULT_FOR - 30, FAULT_AT + FAULT_FOR)
    assert min(end) >= 0.75
    assert max(_before(ticks, "kv_cache_usage_max")) < 0.2
    after = _values(ticks, "kv_cache_usage_max", FAULT_AT + FAULT_FOR + 60, FAULT_AT + FAULT_FOR + 600)
    assert max(after) < 0.2


def test_bad_faults_are_errors_naming_the_field() -> None:
    with pytest.raises(ValueError, match="fault.kind"):
        _run(inc.Fault("meteor", FAULT_AT, FAULT_FOR, 1.0))
    with pytest.raises(ValueError, match="fault.replica"):
        _run(inc.Fault("hang", FAULT_AT, FAULT_FOR, 1.0, replica=5))


def test_onsets_score_delay_false_alerts_and_nab() -> None:
    # 2,000 ticks of 15 s; a fault at 20,000 s for 600 s, window to 20,900 s.
    ticks = [15.0 * k for k in range(1, 2001)]
    fault = inc.Fault("errors", 20_000.0, 600.0, 0.3)
    onsets = [False] * 2000
    onsets[ticks.index(20_040.0)] = True  # 40 s after the start
    onsets[ticks.index(25_005.0)] = True  # far from any window: false
    out = inc.score_onsets(ticks, onsets, [fault], 0.0, [STANDARD])
    assert out.delays == (40.0,)
    assert out.false_alerts == 1
    assert out.false_per_day == pytest.approx(1 / ((30_000.0 - 15.0) / 86400.0))
    # Early in the window (row 2 of 60), minus one full false-positive cost: below 100, well above 0.
    assert 80.0 < out.nab["standard"] < 100.0
    missed = inc.score_onsets(ticks, [False] * 2000, [fault], 0.0, [STANDARD])
    assert missed.delays == (None,) and missed.nab["standard"] == 0.0 and not math.isnan(missed.false_per_day)


def test_a_fault_shows_when_the_first_request_meets_it() -> None:
    # No request between 3,500 s and 3,900 s: a fault starting at 3,600 s cannot show before 3,900 s.
    t, p, o = _traffic()
    keep = (t < 3500.0) | (t >= 3900.0)
    t, p, o = t[keep], p[keep], o[keep]
    faults = [inc.Fault("errors", FAULT_AT, FAULT_FOR, 0.5, replica=1),
              inc.Fault("latency", FAULT_AT, FAULT_FOR, 4.0, replica=0),
              inc.Fault("kv_leak", FAULT_AT + 1200, FAULT_FOR, 0.5, replica=0)]
    exposed: dict[int, float] = {}
    list(inc.replay(t, p, o, faults, H100, exposed=exposed))
    first = float(t[t >= 3900.0][0])
    # the errored request is one of the first few routed to replica 1 after the gap
    assert first <= exposed[0] < first + 10.0
    assert first <= exposed[1] < first + 5.0  # the first request routed to replica 0
    assert exposed[2] == FAULT_AT + 1200  # the gauges show a leak with no traffic at all
    # an alert 20 s after the first showing: 320 s after the start, 20 s after it showed
    delays = inc.detection_delays(faults, [exposed[0] - FAULT_AT + 20.0, None, 5.0], exposed)
    assert delays[0] == pytest.approx(20.0) and delays[1] is None and delays[2] == 5.0
    # an alert before the fault showed counts as 0; a fault that never showed has no delay
    assert inc.detection_delays(faults[:1], [60.0], exposed) == [0.0]
    assert inc.detection_delays(faults[:1], [60.0], {}) == [None]


def test_a_fault_on_a_busy_replica_shows_at_its_start() -> None:
    faults = [inc.Fault("latency", FAULT_AT, FAULT_FOR, 4.0, replica=0)]
    exposed: dict[int, float] = {}
    list(inc.replay(*_traffic(rate=20.0), faults, H100, exposed=exposed))
    assert FAULT_AT <= exposed[0] < FAULT_AT + 1.0
