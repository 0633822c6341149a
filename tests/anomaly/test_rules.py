"""The anomaly checks, table-driven with worked numbers, and hysteresis."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.advisors.anomaly_rules import (
    AnomalySettings,
    Hysteresis,
    check_errors,
    check_kv_leak,
    check_latency_spike,
    check_latency_without_load,
    check_replica_lost,
    check_scores,
    kv_share,
    proven_over,
    served_envelope,
)
from controlplane.policy.decide import decide
from controlplane.policy.state import DecisionState
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals
from tests.policy.build import T0, policy

S = AnomalySettings()
# an idle fleet of two, 2 req/s, every latency within the default SLO: tests change one reading
IDLE = {"ttft_p95": 0.5, "itl_p95": 0.05, "e2e_p95": 10, "waiting_requests": 0, "running_requests": 1,
        "kv_cache_usage_mean": 0.1, "request_rate": 2.0}


def _signals(**values: float) -> Signals:
    return Signals("default/vllm", T0, **{k: Reading.of(v, T0) for k, v in values.items()})


ERRORS = [
    # name, readings, verdict, guard
    ("10% errors, no queue: broken replica", {"error_ratio": 0.10, "waiting_requests": 0}, "raise", True),
    ("10% errors with a queue: demand is real", {"error_ratio": 0.10, "waiting_requests": 3}, "raise", False),
    ("log errors 0.2/s >= 0.1/s", {"log_error_rate": 0.2, "error_ratio": 0.0}, "raise", True),
    ("3% errors: between clear 2% and raise 5%", {"error_ratio": 0.03}, "hold", True),
    ("1% errors and 0.01 log errors/s: clear", {"error_ratio": 0.01, "log_error_rate": 0.01}, "clear", True),
    ("1% errors but log errors 0.05/s: hold", {"error_ratio": 0.01, "log_error_rate": 0.05}, "hold", True),
    ("both missing: no evidence either way", {}, "hold", True),
]


@pytest.mark.parametrize("name,values,verdict,guard", ERRORS, ids=[c[0] for c in ERRORS])
def test_error_burst(name: str, values: dict, verdict: str, guard: bool) -> None:
    f = check_errors(_signals(**values), S, "7 log errors in 60 s (oom 7)")
    assert (f.verdict, f.guard) == (verdict, guard)
    assert f.name == "VllmErrorBurst" and f.severity == "page"
    if verdict == "raise":
        assert "oom 7" in f.evidence


LATENCY: list[tuple[str, dict[str, Any], int, str]] = [
    # default SLO: ttft 2 s, itl 0.1 s, e2e 60 s
    ("ttft 5 s, nothing waiting, 1 running on 2 ready", {"ttft_p95": 5, "waiting_requests": 0,
                                                          "running_requests": 1}, 2, "raise"),
    ("ttft 5 s with 3 waiting: load", {"ttft_p95": 5, "waiting_requests": 3, "running_requests": 4}, 2, "clear"),
    ("ttft 5 s, 3 running on 2 ready: load", {"ttft_p95": 5, "waiting_requests": 0, "running_requests": 3}, 2,
     "clear"),
    ("all within SLO", {"ttft_p95": 0.5, "itl_p95": 0.05, "e2e_p95": 10, "waiting_requests": 0,
                        "running_requests": 1}, 2, "clear"),
    ("ttft high, load unknown", {"ttft_p95": 5}, 2, "hold"),
]


@pytest.mark.parametrize("name,values,ready,verdict", LATENCY, ids=[c[0] for c in LATENCY])
def test_latency_without_load_agrees_with_the_decider(name: str, values: dict, ready: int, verdict: str) -> None:
    p = policy()
    sig = _signals(**{"request_rate": 1.0, "kv_cache_usage_mean": 0.1, "itl_p95": 0.05, "e2e_p95": 10, **values})
    f = check_latency_without_load(p, sig, ready)
    assert f.verdict == verdict and f.guard
    # The decider flags the same ticks in decision.inputs["latency_without_load"].
    if "waiting_requests" in values:
        d, _ = decide(p, sig, DecisionState.fresh(p.target_key), T0, ReplicaStatus(ready, ready, 0))
        assert bool(d.inputs["latency_without_load"]) == (verdict == "raise"), d.reasons


def test_latency_without_load_over_a_handful_of_requests_holds() -> None:
    # one long prompt on an idle fleet: 0.2 req/s over the 60 s window is 12 requests < 20
    p = policy()
    values = {"ttft_p95": 5.0, "itl_p95": 0.05, "e2e_p95": 10, "waiting_requests": 0, "running_requests": 1,
              "kv_cache_usage_mean": 0.1}
    few = check_latency_without_load(p, _signals(**{**values, "request_rate": 0.2}), 2)
    assert few.verdict == "hold" and "12 requests only" in few.evidence
    enough = check_latency_without_load(p, _signals(**{**values, "request_rate": 0.5}), 2)  # 30 requests
    assert enough.verdict == "raise"


def test_inter_token_latency_alone_is_prefill_interference() -> None:
    p = policy()
    values = {**IDLE, "ttft_p95": 0.5, "itl_p95": 0.4}
    f = check_latency_without_load(p, _signals(**values), 2)
    assert f.verdict == "hold" and "prefill interference" in f.evidence
    assert check_latency_without_load(p, _signals(**{**values, "ttft_p95": 5.0}), 2).verdict == "raise"


def test_load_earlier_in_the_p95_window_explains_the_latency() -> None:
    p = policy()
    values = {**IDLE, "ttft_p95": 5.0}
    f = check_latency_without_load(p, _signals(**values), 2, loaded_in_window=True)
    assert f.verdict == "clear" and "load earlier in the window" in f.evidence


SPIKE = [
    # history of calm ttft p95, now, SLO 2 s, verdict
    ("3.5x a 1 s baseline, over SLO", [1.0] * 6, 3.5, "raise"),
    ("3.4x a 0.7 s baseline, 2.4 s: inside the (1, 2.5] bucket that holds the 2 s SLO", [0.7] * 6, 2.4, "hold"),
    ("3x a 0.2 s baseline but inside the 2 s SLO", [0.2] * 6, 0.6, "clear"),
    ("2x: between clear 1.5x and raise 3x", [1.0] * 6, 2.5, "hold"),
    ("only 4 calm samples: no baseline yet", [1.0] * 4, 5.0, "hold"),
    ("back to 1.2x", [1.0] * 6, 1.2, "clear"),
]


@pytest.mark.parametrize("name,history,now_value,verdict", SPIKE, ids=[c[0] for c in SPIKE])
def test_latency_spike(name: str, history: list[float], now_value: float, verdict: str) -> None:
    f = check_latency_spike(policy(), _signals(ttft_p95=now_value), history, S)
    assert f.verdict == verdict and not f.guard


@pytest.mark.parametrize("field,value,target,proven", [
    ("ttft_p95", 2.4, 2.0, False),   # interpolated inside (1.0, 2.5]: could be 1.1 s
    ("ttft_p95", 2.6, 2.0, True),    # past 2.5: more than 5 % of requests took over 2.5 s
    ("ttft_p95", 0.6, 0.5, True),    # 0.5 is a bound: judged exactly
    ("itl_p95", 0.12, 0.1, True),    # 0.1 is a bound of the inter-token histogram
    ("e2e_p95", 48.0, 45.0, False),  # (40, 50]
    ("request_rate", 2.1, 2.0, True),  # no histogram: compared plainly
])
def test_proven_over_respects_the_histogram_bucket(field: str, value: float, target: float, proven: bool) -> None:
    assert proven_over(field, value, target) is proven


def test_latency_without_load_holds_on_a_p95_inside_the_slo_bucket() -> None:
    p = policy()
    values = {**IDLE, "ttft_p95": 2.3}
    f = check_latency_without_load(p, _signals(**values), 2)
    assert f.verdict == "hold" and "not proven" in f.evidence
    assert check_latency_without_load(p, _signals(**{**values, "ttft_p95": 2.7}), 2).verdict == "raise"


def test_spike_past_the_rate_the_fleet_has_held_within_slo_is_load() -> None:
    # demand only 1.2x its calm baseline (under 1.5x), but 7 req/s per replica where the fleet
    # has held at most ~5 within the SLO: saturation, the decider's business, not a fault
    p = policy()
    served = [3.0 + 0.1 * (i % 21) for i in range(100)]  # 3.0 .. 5.0 req/s per replica
    envelope = served_envelope(served, S)
    assert envelope is not None and 4.8 <= envelope <= 5.0
    sig = _signals(ttft_p95=5.0, request_rate=14.0)
    load = check_latency_spike(p, sig, [1.0] * 6, S, [11.7] * 6, served, ready=2)
    assert load.verdict == "clear" and "past the" in load.evidence and "load, not a fault" in load.evidence
    # the same spike at 4 req/s per replica, inside what the fleet has served: a fault
    fault = check_latency_spike(p, _signals(ttft_p95=5.0, request_rate=8.0), [1.0] * 6, S, [8.0] * 6, served,
                                ready=2)
    assert fault.verdict == "raise"
    # too few served ticks yet: no envelope, the demand rule alone
    assert served_envelope(served[:5], S) is None
    assert check_latency_spike(p, sig, [1.0] * 6, S, [11.7] * 6, served[:5], ready=2).verdict == "raise"


def test_a_spike_on_every_replica_after_a_burst_is_load_and_on_one_replica_a_fault() -> None:
    # a 1 s calm p95 at 2 req/s; now 5 s at 1 req/s (the burst has passed), but 6 req/s a tick
    # ago, while the requests of this p95 arrived (3x the calm rate)
    p = policy()
    arrivals = [6.0, 4.0, 1.0]
    everywhere = _signals(ttft_p95=5.0, request_rate=1.0, ttft_p95_fastest_replica=4.0)
    load = check_latency_spike(p, everywhere, [1.0] * 6, S, [2.0] * 6, arrival_rates=arrivals)
    assert load.verdict == "clear" and "3.00x while the slowest of these requests arrived" in load.evidence
    # the fastest replica at its usual latency: the slow one is at fault, whatever came before
    one = _signals(ttft_p95=5.0, request_rate=1.0, ttft_p95_fastest_replica=1.1)
    assert check_latency_spike(p, one, [1.0] * 6, S, [2.0] * 6, arrival_rates=arrivals).verdict == "raise"
    # no per-replica reading: the demand now alone, as before
    alone = _signals(ttft_p95=5.0, request_rate=1.0)
    assert check_latency_spike(p, alone, [1.0] * 6, S, [2.0] * 6, arrival_rates=arrivals).verdict == "raise"
    # every replica slow but no burst behind it (a fleet-wide fault): raised
    calm = check_latency_spike(p, everywhere, [1.0] * 6, S, [2.0] * 6, arrival_rates=[2.2, 1.8, 1.0])
    assert calm.verdict == "raise"


def test_a_detector_finding_on_an_unusually_low_reading_holds() -> None:
    # every watched signal is bad only when high: a strong score for a TTFT p95 under its
    # recent median (a fast night) holds, the same score above it raises
    scores = {"ttft_p95": ("ensemble", 0.97), "waiting_requests": ("ensemble", 0.95)}
    held = {f.ident: f for f in check_scores(scores, S, seen=10_000, low_side={"ttft_p95"})}
    assert held["VllmSignalAnomaly:ttft_p95"].verdict == "hold"
    assert "unusually low" in held["VllmSignalAnomaly:ttft_p95"].evidence
    assert held["VllmSignalAnomaly:waiting_requests"].verdict == "raise"


def test_a_detector_finding_on_the_queue_or_ttft_holds_while_the_latency_is_load() -> None:
    scores = {"ttft_p95": ("ensemble", 0.97), "waiting_requests": ("ensemble", 0.95),
              "error_ratio": ("ensemble", 0.96)}
    found = {f.ident: f for f in check_scores(scores, S, seen=10_000, load=True)}
    for signal in ("ttft_p95", "waiting_requests"):
        assert found[f"VllmSignalAnomaly:{signal}"].verdict == "hold"
        assert "came with the load" in found[f"VllmSignalAnomaly:{signal}"].evidence
    assert found["VllmSignalAnomaly:error_ratio"].verdict == "raise"  # errors do not follow the load
    assert all(f.verdict == "raise" for f in check_scores(scores, S, seen=10_000, load=False))
    # the spike check says which ticks are load
    p = policy()
    load = check_latency_spike(p, _signals(ttft_p95=5.0, request_rate=4.0), [1.0] * 6, S, [2.0] * 6)
    fault = check_latency_spike(p, _signals(ttft_p95=5.0, request_rate=2.0), [1.0] * 6, S, [2.0] * 6)
    assert load.load and not fault.load


def test_the_bank_marks_readings_at_or_under_their_recent_median() -> None:
    from controlplane.advisors.anomaly_bank import DetectorBank
    from controlplane.detect.registry import make_detector

    bank = DetectorBank(lambda kind: make_detector("tail"), univariate="tail", multivariate=None)
    for i in range(20):
        bank.update(_signals(ttft_p95=0.5 + 0.01 * (i % 5), waiting_requests=2.0), T0 + i)
    bank.update(_signals(ttft_p95=0.05, waiting_requests=40.0), T0 + 20)
    assert "ttft_p95" in bank.low_side and "waiting_requests" not in bank.low_side
    restored = DetectorBank(lambda kind: make_detector("tail"), univariate="tail", multivariate=None)
    restored.restore(bank.state())
    assert list(restored.recent["ttft_p95"]) == list(bank.recent["ttft_p95"])


def test_kv_usage_the_running_requests_do_not_explain_is_a_leak() -> None:
    # learned: one running request holds at most ~1 % of a replica's cache
    shares = [0.002 + 0.0001 * (i % 80) for i in range(200)]  # 0.2 % .. 1.0 %
    share = kv_share(shares, S)
    assert share is not None and 0.0095 <= share <= 0.01
    # 20 % of the cache in use with nothing running: nothing explains it
    leak = check_kv_leak(_signals(kv_cache_usage_max=0.20, running_requests=0), shares, S)
    assert leak.verdict == "raise" and leak.name == "VllmKvCacheLeak" and not leak.guard
    assert "explain up to 0.05" in leak.evidence
    # nothing running and nothing waiting: a healthy replica holds no blocks, so 2 % is a leak
    # at once (one scrape), 0.5 % is rounding
    idle = check_kv_leak(_signals(kv_cache_usage_max=0.02, running_requests=0, waiting_requests=0), shares, S)
    assert idle.verdict == "raise" and idle.raise_ticks == 1 and "no request running or waiting" in idle.evidence
    assert check_kv_leak(_signals(kv_cache_usage_max=0.005, running_requests=0, waiting_requests=0), shares,
                         S).verdict == "clear"
    # 30 running may explain up to 0.05 + 30 x 0.01 = 0.35 and usually hold 0.01 + 30 x ~0.006 = 0.19:
    # 15 % clears, 25 % is neither (a small leak may hide in it), 40 % raises
    verdicts = [check_kv_leak(_signals(kv_cache_usage_max=u, running_requests=30), shares, S).verdict
                for u in (0.15, 0.25, 0.40)]
    assert verdicts == ["clear", "hold", "raise"]
    # nothing learned yet, or a reading missing: no verdict
    assert check_kv_leak(_signals(kv_cache_usage_max=0.9, running_requests=0), shares[:5], S).verdict == "hold"
    assert check_kv_leak(_signals(running_requests=0), shares, S).verdict == "hold"


def test_hysteresis_raise_after_two_clear_after_three_hold_breaks_streaks() -> None:
    h = Hysteresis(raise_ticks=2, clear_ticks=3)
    seq = ["raise", "hold", "raise", "raise", "clear", "clear", "hold", "clear", "clear", "clear"]
    got = [h.step("x", v, T0 + i) for i, v in enumerate(seq)]  # type: ignore[arg-type]
    # raise/hold/raise: the hold broke the streak; active on the 2nd consecutive raise (i=3);
    # two clears then a hold: still active; three consecutive clears resolve it (i=9).
    assert got == [False, False, False, True, True, True, True, True, True, False]
    assert h.since("x") is None
    h.step("y", "raise", T0 + 20)
    h.step("y", "raise", T0 + 21)
    assert h.since("y") == T0 + 20  # the alert starts at the first raise of the streak
    restored = Hysteresis(2, 3)
    restored.restore(h.state())
    assert restored.state() == h.state()


@pytest.mark.parametrize(
    "kw,field",
    [({"error_ratio_clear": 0.1}, "error_ratio_clear"), ({"raise_ticks": 0}, "raise_ticks"),
     ({"baseline_ticks": 2}, "baseline_ticks")],
)
def test_bad_settings_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AnomalySettings(**kw)


def test_replica_lost_without_a_scale_down() -> None:
    two, one = ReplicaStatus(2, 2, 0), ReplicaStatus(2, 1, 1)
    assert check_replica_lost(None, two).verdict == "clear"
    lost = check_replica_lost(two, one)
    assert lost.verdict == "raise" and lost.raise_ticks == 1 and "ready replicas 2 -> 1" in lost.evidence
    assert check_replica_lost(one, one).verdict == "hold"  # still one short: neither new nor over
    assert check_replica_lost(one, two).verdict == "clear"
    # a scale-down 3 -> 2 takes a ready replica away on purpose
    assert check_replica_lost(ReplicaStatus(3, 3, 0), ReplicaStatus(2, 2, 0)).verdict == "clear"
