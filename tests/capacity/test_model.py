"""Capacity at the SLO (bisection on the engine model) and its online correction."""

from __future__ import annotations

import pytest

from controlplane.capacity.model import CapacityEstimator, Workload, capacity_at_slo, simulate_latency
from controlplane.capacity.profile import get_profile

TINY = get_profile("cpu-tiny")
H100 = get_profile("llama-3.1-8b-h100")
# cpu-tiny, 200-token prompts, 100-token outputs: a sequence holds 200 + 100/2 = 250 KV tokens, so
# 1024 // 250 = 4 fit (= max_num_seqs); step(4) = 3 + 0.3 x 4 = 4.2 ms; a request costs
# 100 x 4.2 / 4 = 105 ms of decode + 200 x 0.5 ms = 100 ms of prefill -> saturation 1 / 0.205 = 4.878 req/s
CHAT = Workload(200, 100)
SAT = 1 / 0.205


def test_saturation_worked_number() -> None:
    assert TINY.max_requests_per_s(200, 100) == pytest.approx(SAT)


def test_capacity_is_bound_by_ttft_below_saturation() -> None:
    cap = capacity_at_slo(TINY, CHAT, 2.0, 0.1)
    assert cap.binding == "ttft_p95"
    assert 0.5 * SAT < cap.requests_per_s < 0.9 * SAT
    assert cap.at is not None and cap.at.ttft_p95_s <= 2.0 and cap.at.itl_p95_s <= 0.1
    assert cap.prompt_tokens_per_s == pytest.approx(200 * cap.requests_per_s)
    assert cap.generation_tokens_per_s == pytest.approx(100 * cap.requests_per_s)
    assert cap.per_replica("generation_tokens/s") == cap.generation_tokens_per_s
    # 10% more load breaks the TTFT target: the bisection found the edge, not a point far inside it
    over = simulate_latency(TINY, CHAT, 1.1 * cap.requests_per_s)
    assert over.ttft_p95_s > 2.0


def test_looser_slo_never_lowers_capacity() -> None:
    caps = [capacity_at_slo(TINY, CHAT, ttft, 0.1).requests_per_s for ttft in (1.0, 2.0, 4.0)]
    assert caps[0] <= caps[1] <= caps[2]
    assert caps[0] < caps[2]


@pytest.mark.parametrize(
    ("ttft", "itl", "binding", "rate"),
    [
        (0.05, 0.1, "unreachable", 0.0),  # a 200-token prefill alone takes 200 x 0.5 ms = 100 ms > 50 ms
        (1000.0, 10.0, "saturation", 0.9 * SAT),  # latency never binds: plan at 90% of saturation
    ],
    ids=["ttft-below-prefill-time", "slo-never-binds"],
)
def test_capacity_edges(ttft: float, itl: float, binding: str, rate: float) -> None:
    cap = capacity_at_slo(TINY, CHAT, ttft, itl)
    assert cap.binding == binding
    assert cap.requests_per_s == pytest.approx(rate)


def test_long_prompts_on_h100_are_bound_by_itl() -> None:
    # Azure code-trace sizes (median prompt 1,469, output 13): other requests' prefill chunks land in
    # decode steps, stretching the ITL of short outputs before queueing hurts TTFT
    cap = capacity_at_slo(H100, Workload(1469, 13), 2.0, 0.1)
    sat = H100.max_requests_per_s(1469, 13)
    assert cap.binding == "itl_p95"
    assert 0.3 * sat < cap.requests_per_s < 0.9 * sat


def test_latency_grows_with_load() -> None:
    light = simulate_latency(TINY, CHAT, 0.3 * SAT)
    heavy = simulate_latency(TINY, CHAT, 0.85 * SAT)
    assert light.ttft_p95_s < heavy.ttft_p95_s


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: Workload(0, 10), "prompt_tokens"),
        (lambda: Workload(10, float("nan")), "output_tokens"),
        (lambda: simulate_latency(TINY, CHAT, 0.0), "rate"),
        (lambda: simulate_latency(TINY, Workload(500, 100), 1.0), "prompt_tokens"),  # > max_model_len 512
        (lambda: capacity_at_slo(TINY, CHAT, 0.0, 0.1), "ttft_p95_s"),
        (lambda: CapacityEstimator(0.0, 2.0), "modelled"),
    ],
    ids=["prompt-0", "output-nan", "rate-0", "too-long", "slo-0", "capacity-0"],
)
def test_bad_input_names_the_field(call, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=f"^{field}:"):
        call()


# Online correction, modelled capacity 10 req/s per replica, TTFT SLO 2 s, ITL SLO 0.1 s.
@pytest.mark.parametrize(
    ("load", "ttft", "itl", "want"),
    [
        (8.0, 3.0, None, 9.0),  # missed below capacity: max(8, 10 x 0.9) = 9
        (9.5, 3.0, None, 9.5),  # missed just below: max(9.5, 9) = 9.5, never under the load that missed
        (2.0, 3.0, None, 10.0),  # missed at 20% load (< evidence 30%): a cold start, not capacity
        (8.0, 1.0, 0.5, 9.0),  # TTFT fine but ITL 0.5 s > 0.1 s: a miss all the same
        (12.0, 1.0, None, 10.2),  # met above capacity: min(12, 10 x 1.02) = 10.2, up slowly
        (10.1, 1.0, None, 10.1),  # met just above: min(10.1, 10.2) = 10.1
        (8.0, 1.0, None, 10.0),  # met below capacity: what the model says
        (12.0, 3.0, None, 10.0),  # missed above capacity: what the model says
        (None, 3.0, None, 10.0),  # missing load: no evidence
        (8.0, float("nan"), None, 10.0),  # missing TTFT: no evidence
    ],
    ids=["miss-below", "miss-just-below", "miss-near-idle", "itl-miss", "met-above", "met-just-above",
         "met-below", "miss-above", "no-load", "no-ttft"],
)
def test_online_correction_direction(load, ttft, itl, want) -> None:  # type: ignore[no-untyped-def]
    est = CapacityEstimator(10.0, 2.0, 0.1)
    est.observe(load, ttft, itl)
    assert est.capacity == pytest.approx(want)


def test_online_correction_is_bounded() -> None:
    est = CapacityEstimator(10.0, 2.0)
    for _ in range(50):  # misses at 95% of capacity: max(0.95 C, 0.9 C) = 0.95 C each time, floored at 0.5 x 10
        est.observe(est.capacity * 0.95, 5.0)
    assert est.capacity == pytest.approx(5.0) and est.factor == 0.5
    for _ in range(200):  # met far above: up 2% a time, capped at 1.5 x 10
        est.observe(100.0, 0.5)
    assert est.capacity == pytest.approx(15.0)
    again = CapacityEstimator.from_dict(est.to_dict())
    assert again.capacity == pytest.approx(15.0) and again.to_dict() == est.to_dict()


def test_online_correction_reports_what_it_did() -> None:
    est = CapacityEstimator(10.0, 2.0)
    assert est.observe(8.0, 3.0).startswith("SLO missed at load 8 < capacity 10 -> capacity 9")
    assert est.observe(None, 3.0) == "no change: load or TTFT p95 missing"


@pytest.mark.parametrize(
    ("rates", "want"),
    [
        ((2.0, 400.0, 200.0), Workload(200, 100)),  # 400 / 2 prompt tokens, 200 / 2 output tokens per request
        ((2.0, 1.0, 0.5), Workload(1, 1)),  # sizes below one token are clamped to 1
        ((0.0, 0.0, 0.0), None),  # idle: no sizes to learn
        ((None, 400.0, 200.0), None),  # a missing rate is no data, not 0
        ((2.0, float("nan"), 200.0), None),
    ],
    ids=["worked", "clamped", "idle", "missing", "nan"],
)
def test_workload_from_observed_rates(rates, want) -> None:  # type: ignore[no-untyped-def]
    assert Workload.from_rates(*rates) == want
