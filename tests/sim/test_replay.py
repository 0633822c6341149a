"""The replay loop: every request finishes once, cold starts and drains are respected,
and the routers send requests where they should."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.sim.autoscaler import StaticAutoscaler
from controlplane.sim.replay import ColdStart, SimConfig, simulate
from tests.sim.helpers import TOY, Scripted, fixed_trace, poisson_trace


@pytest.mark.parametrize(
    "case,rate,replicas,router",
    [
        ("light load, one replica", 2.0, 1, "least_outstanding"),
        ("heavy load queues", 40.0, 1, "least_outstanding"),
        ("three replicas, round robin", 20.0, 3, "round_robin"),
    ],
)
def test_every_request_finishes_exactly_once(case: str, rate: float, replicas: int, router: str) -> None:
    trace = poisson_trace(rate, 60.0, seed=3)
    cfg = SimConfig(profile=TOY, initial_replicas=replicas, router=router)
    run = simulate(trace, StaticAutoscaler(replicas), cfg)
    assert run.finished_events == len(trace), case
    assert np.all(np.isfinite(run.e2e)) and np.all(np.isfinite(run.ttft)), case
    assert np.all(run.e2e >= run.ttft), case
    assert np.all(run.served_by >= 0), case


def test_cold_start_is_respected_and_charged() -> None:
    # One replica at t=0; the autoscaler asks for 2 from t=10; start-up is a fixed 30 s,
    # so the second replica is ready at 40 (not before) and costs replica-seconds from 10.
    trace = poisson_trace(5.0, 80.0, seed=1)
    auto = Scripted([(0.0, 1), (10.0, 2)])
    run = simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=1, cold_start=ColdStart(mean_s=30.0)))
    ready = {now: st.ready for now, st, _ in auto.seen}
    pending = {now: st.pending for now, st, _ in auto.seen}
    assert ready[35.0] == 1 and pending[35.0] == 1
    assert ready[40.0] == 2 and pending[40.0] == 0
    assert run.created.tolist() == [0.0, 10.0]
    late = run.served_by == 1
    assert late.any() and trace.arrival_s[late].min() >= 40.0
    # replica 0 for the whole run, replica 1 from t=10
    assert run.replica_seconds == pytest.approx(run.horizon + (run.horizon - 10.0))


def test_scale_down_drains_then_retires() -> None:
    # Two replicas, then one from t=5: the drained replica finishes its requests
    # (all of them complete) and is gone once idle; no request goes to it after 5 s.
    trace = poisson_trace(20.0, 20.0, prompt=500, output=50, seed=2)
    auto = Scripted([(0.0, 2), (5.0, 1)])
    run = simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=2))
    assert run.finished_events == len(trace)
    gone = int(np.argmin(np.nan_to_num(run.ended, nan=math.inf)))
    assert not np.any(trace.arrival_s[run.served_by == gone] > 5.0)
    assert 5.0 <= run.ended[gone] < run.horizon
    assert run.scale_events == [(5.0, 2, 1)]


def test_starting_replicas_are_cancelled_first() -> None:
    # Ask 3 at t=5 (two start), back to 1 at t=10 before they are ready: both are
    # cancelled (they cost 5 s each) and the serving replica stays.
    trace = poisson_trace(2.0, 30.0, seed=4)
    auto = Scripted([(0.0, 1), (5.0, 3), (10.0, 1)])
    run = simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=1, cold_start=ColdStart(mean_s=30.0)))
    assert run.ended[1:].tolist() == [10.0, 10.0]
    assert np.all(run.served_by == 0)
    assert run.replica_seconds == pytest.approx(run.horizon + 10.0)


def test_least_outstanding_router_avoids_the_busy_replica() -> None:
    # Request 0 (t=0) is long (5,000 prompt tokens = 5 s of prefill) and takes replica 0.
    trace = fixed_trace([0.0, 1.0, 1.5])
    trace = type(trace)(trace.name, trace.arrival_s, np.array([5000, 100, 100]), trace.output_tokens)
    lor = simulate(trace, StaticAutoscaler(2), SimConfig(profile=TOY, initial_replicas=2))
    # t=1: replica 0 has 1 in flight, replica 1 none -> 1. Request 1 takes 0.1 s prefill plus
    # ten 10 ms steps, done by ~1.2 s; at t=1.5 replica 1 is idle again -> 1.
    assert lor.served_by.tolist() == [0, 1, 1]
    rr = simulate(trace, StaticAutoscaler(2), SimConfig(profile=TOY, initial_replicas=2, router="round_robin"))
    assert rr.served_by.tolist() == [0, 1, 0]
    # Round robin puts request 2 behind the long prefill: chunked prefill serves the
    # oldest first (1,024 tokens a ~1 s step), so its first token comes after ~4 of the
    # 5 chunks: a TTFT of seconds instead of ~0.1 s.
    assert rr.ttft[2] > 2.0 and lor.ttft[2] < 0.2


def test_requests_wait_at_the_router_when_no_replica_is_ready() -> None:
    # Zero replicas at t=0; the autoscaler asks for one at its first tick (t=5); the
    # replica is ready at 5 + 30 = 35 s, so the request that arrived at t=1 waits ~34 s.
    trace = fixed_trace([1.0])
    auto = Scripted([(0.0, 1)])
    run = simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=0, cold_start=ColdStart(mean_s=30.0)))
    assert run.ttft[0] == pytest.approx(34.0, abs=0.2)


def test_requests_longer_than_max_model_len_are_clipped() -> None:
    trace = fixed_trace([0.0], prompt=4000, output=500)  # 4,500 > max_model_len 4,096
    run = simulate(trace, StaticAutoscaler(1), SimConfig(profile=TOY, initial_replicas=1))
    assert run.clipped == 1 and run.finished_events == 1


def test_cold_start_distributions() -> None:
    rng = np.random.default_rng(0)
    draw = ColdStart(mean_s=100.0, kind="uniform", spread=0.2).sampler(TOY, rng)
    xs = [draw() for _ in range(200)]
    assert 80.0 <= min(xs) and max(xs) <= 120.0
    assert ColdStart(kind="fixed").sampler(TOY, rng)() == 30.0  # the profile's startup_s
    assert ColdStart(mean_s=100.0, kind="uniform", spread=0.2).bound_s(TOY) == 80.0
    with pytest.raises(ValueError, match="cold_start.kind"):
        ColdStart(kind="weibull")
