"""The oracle is a lower bound: no policy meets the SLO share with fewer replica-seconds."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.capacity.profile import get_profile
from controlplane.sim.calibrate import decode_work, prefill_work
from controlplane.sim.compare import compare
from controlplane.sim.oracle import oracle_bound
from controlplane.sim.registry import PolicyContext, default_policy
from controlplane.sim.replay import ColdStart, SimConfig
from controlplane.sim.results import SloTargets
from controlplane.traces.model import Trace
from controlplane.traces.synthetic import get_preset, synthetic_trace
from tests.sim.helpers import TOY, fixed_trace, poisson_trace


def test_worked_bound() -> None:
    # 120 requests of 1,000 prompt tokens (1 s of prefill each on TOY) and 10 output tokens,
    # all in the first minute: 120 s of prefill must be done within the first two minutes,
    # so the two buckets hold >= 2 replicas on average between them; the run lasts 59 s.
    times = list(np.linspace(0.0, 59.0, 120))
    trace = fixed_trace(times, prompt=1000, output=10)
    # Buckets: y0 for 0-60 s (charged 59 s, up to the last arrival) and y1 for 60-120 s
    # (charged nothing: a run may end right after its last arrival). Work: 120 x 1 s of
    # prefill plus 120 x 10 x 10 ms / 8 = 1.5 s of decode, so 60 (y0 + y1) >= 121.5.
    # Without a start-up cost the whole load can sit in the uncharged bucket: bound 0.
    free = oracle_bound(trace, TOY, ttft_slo_s=2.0, objective=1.0, startup_s=0.0, min_replicas=0)
    assert free.replica_seconds == pytest.approx(0.0, abs=1e-6)
    # With a 30 s start-up, y1 - y0 costs 30 s per replica: cost 59 y0 + 30 (2.025 - 2 y0),
    # falling in y0 until y0 = y1 = 1.0125, i.e. 59 x 1.0125 = 59.7375 replica-seconds.
    paid = oracle_bound(trace, TOY, ttft_slo_s=2.0, objective=1.0, startup_s=30.0, min_replicas=0)
    assert paid.replica_seconds == pytest.approx(59.7375, rel=1e-6)


def test_floor_and_total_work() -> None:
    trace = poisson_trace(1.0, 600.0, prompt=100, output=10, seed=2)
    bound = oracle_bound(trace, TOY, ttft_slo_s=2.0, min_replicas=1)
    # one replica over the run (~600 s) is the floor; the work (~60 s) is far below it
    assert bound.replica_seconds == pytest.approx(trace.duration_s, rel=1e-6)
    work = prefill_work(TOY, trace.prompt_tokens).sum() + decode_work(TOY, trace.output_tokens).sum()
    assert bound.total_work_s == pytest.approx(work)


def _traces() -> list[Trace]:
    # Azure-code sizes (median prompt 1,469) need the H100 profile to meet a 2 s TTFT at all.
    bursty = synthetic_trace(
        get_preset("azure-code").with_overrides(duration_s=900.0, mean_rate_rps=20.0, period_s=900.0, peak_s=450.0),
        seed=5,
    )
    steady = poisson_trace(20.0, 600.0, prompt=800, output=40, seed=7)
    step = Trace(
        "step",
        np.concatenate([np.sort(np.random.default_rng(1).uniform(0, 300, 300)),
                        np.sort(np.random.default_rng(2).uniform(300, 600, 6000))]),
        np.full(6300, 600, dtype=np.int64),
        np.full(6300, 20, dtype=np.int64),
    )
    return [bursty, steady, step]


@pytest.mark.parametrize(
    "index,profile_name", [(0, "llama-3.1-8b-h100"), (1, "toy"), (2, "toy")],
    ids=["bursty-diurnal", "steady-poisson", "load-step"],
)
def test_no_policy_beats_the_oracle(index: int, profile_name: str) -> None:
    trace = _traces()[index]
    profile = TOY if profile_name == "toy" else get_profile(profile_name)
    slo = SloTargets(ttft_s=2.0, objective=0.95)
    policy = default_policy(slo.ttft_s, profile, max_replicas=32)
    config = SimConfig(profile=profile, initial_replicas=2, max_replicas=32, cold_start=ColdStart(mean_s=30.0))
    policies = ["reactive", "hpa", "keda", "knative", "static", "oracle"]
    ctx = PolicyContext(trace, profile, policy, max_replicas=32)
    result = compare(trace, policies, config, ctx, slo)
    assert result.oracle is not None
    met = []
    for name, run in result.runs.items():
        summary = run.summary(slo)
        if summary["meets_slo"]:
            met.append(name)
            assert run.replica_seconds >= result.oracle.replica_seconds, (name, run.replica_seconds)
    # Extra static fleets guarantee at least one run meets the SLO, so the check is not vacuous.
    for extra in (4, 8, 16):
        ctx_extra = PolicyContext(trace, profile, policy, max_replicas=32, static_replicas=extra)
        run = compare(trace, ["static"], config, ctx_extra, slo).runs["static"]
        if run.summary(slo)["meets_slo"]:
            met.append(f"static-{extra}")
            assert run.replica_seconds >= result.oracle.replica_seconds
    assert met
