"""Model-based sizing: the demand level, the capacity it divides by, and how the decider uses it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from controlplane.advisors.sizing import DemandSizer, SizingAdvisor, weighted_quantile
from controlplane.capacity.fleet import SizeMix, fleet_size_at_slo
from controlplane.capacity.profile import get_profile
from controlplane.policy.decide import decide
from controlplane.policy.decision import Proposal
from controlplane.policy.state import DecisionState
from controlplane.signals import Reading, ReplicaStatus, Signals
from tests.advisors.helpers import policy, signals

PROFILE = get_profile("llama-3.1-8b-h100")
T0 = 1_700_000_000.0


def sized(**kw: object):  # type: ignore[no-untyped-def]
    return policy(sizing={"enabled": True, "history_s": 600.0}, predictive={"enabled": False}, **kw)


def test_weighted_quantile_by_hand() -> None:
    v = np.array([10.0, 1.0, 2.0])
    # by weight: 1 (1), 2 (2), 10 (10); total 13
    assert weighted_quantile(v, v, 0.99) == 10.0  # 12.87 of 13 needs the 10
    assert weighted_quantile(v, v, 0.2) == 2.0  # 2.6 > 1: the 2 is needed
    assert weighted_quantile(v, v, 1 / 13) == 1.0
    assert weighted_quantile(np.array([3.0, math.nan]), np.array([1.0, 1.0]), 0.5) == 3.0
    with pytest.raises(ValueError, match="q"):
        weighted_quantile(v, v, 0.0)


def _feed(sizer: DemandSizer, pol, rates: list[float], ready: int = 2, start: float = T0) -> float:  # type: ignore[no-untyped-def]
    now = start
    for i, r in enumerate(rates):
        now = start + 15.0 * i
        sizer.observe(now, signals(now, r, ttft=0.3), ReplicaStatus(ready, ready, 0), pol.sizing.history_s)
    return now


def test_ask_is_the_fleet_model_at_the_demand_and_grows_with_it() -> None:
    pol = sized()
    one, two = DemandSizer(PROFILE), DemandSizer(PROFILE)
    now = _feed(one, pol, [5.0] * 20)
    _feed(two, pol, [40.0] * 20)
    a, b = one.propose(pol, now), two.propose(pol, now)
    assert a.source == "sizing" and a.replicas is not None and b.replicas is not None
    # no histogram collected: the mix is the mean request (1000 prompt, 200 output tokens)
    mix = SizeMix.point(1000.0, 200.0)
    for sizer, rate, got in ((one, 5.0, a), (two, 40.0, b)):
        cell = 1.05 ** math.ceil(math.log(rate) / math.log(1.05) - 1e-9)
        fleet = fleet_size_at_slo(PROFILE, mix, cell, pol.slo.ttft_p95_s, pol.slo.objective, pol.max_replicas)
        assert got.replicas == fleet.replicas
        assert sizer.capacity is not None and sizer.capacity.capacity == pytest.approx(cell / fleet.replicas)
        assert "mean only" in got.detail and f"demand {cell:.4g} req/s" in got.detail
    assert b.replicas > a.replicas


def _with_sizes(s: Signals, rate: float, shares: list[float]) -> Signals:
    """``s`` with a prompt-size histogram: ``shares`` of ``rate`` in the buckets of BOUNDS."""
    cum = np.cumsum(shares) * rate
    return replace(s, prompt_size_buckets=tuple(zip(BOUNDS, cum.tolist(), strict=True)))


BOUNDS = (1000.0, 10000.0, 50000.0, math.inf)


def test_a_heavy_tailed_histogram_asks_more_than_its_mean_and_only_the_attainable_share() -> None:
    # the same mean prompt (about 5,900 tokens), once as the mean alone, once as the histogram
    # with a tail to 50k tokens: the tail's prefill holds the queue, so more replicas are asked;
    # the prompts over 50k (2 %) cannot meet 2 s alone, so the target is attainable - 0.5 points
    pol = sized()
    shares = [0.6, 0.3, 0.08, 0.02]
    mean_only, tailed = DemandSizer(PROFILE), DemandSizer(PROFILE)
    for i in range(20):
        now = T0 + 15.0 * i
        s = signals(now, 3.0, prompt=5900.0, ttft=5.0)
        mean_only.observe(now, s, ReplicaStatus(4, 4, 0), 600.0)
        tailed.observe(now, _with_sizes(s, 3.0, shares), ReplicaStatus(4, 4, 0), 600.0)
    a, b = mean_only.propose(pol, now), tailed.propose(pol, now)
    assert a.replicas is not None and b.replicas is not None and b.replicas > a.replicas
    assert "prompt median <= 1000, p95 <= 50000" in b.detail and "attainable 9" in b.detail
    # the TTFT p95 of 5 s is one window's reading, not yet a sustained miss: no correction
    assert tailed.capacity is not None and tailed.capacity.factor == 1.0


def test_when_most_requests_cannot_meet_the_slo_the_p95_does_not_correct_the_capacity() -> None:
    # 30 % of prompts over 50k tokens: the target is under 95 %, so a TTFT p95 over the SLO
    # (which it is at any fleet size) is no evidence, and the ask does not ratchet up
    pol = sized()
    sizer = DemandSizer(PROFILE)
    asks = []
    for i in range(80):
        now = T0 + 15.0 * i
        s = _with_sizes(signals(now, 1.0, prompt=30000.0, ttft=9.0, waiting=2.0, running=8.0), 1.0,
                        [0.3, 0.2, 0.2, 0.3])
        sizer.observe(now, s, ReplicaStatus(3, 3, 0), 600.0)
        asks.append(sizer.propose(pol, now).replicas)
    assert sizer.capacity is not None and sizer.capacity.factor == 1.0
    assert len(set(asks[10:])) == 1
    assert "the TTFT p95 cannot judge it" in sizer.capacity_detail


def test_recent_burst_is_headroom_and_is_forgotten_after_history_s() -> None:
    pol = sized()
    flat, burst = DemandSizer(PROFILE), DemandSizer(PROFILE)
    rates = [4.0] * 10 + [40.0] * 2 + [4.0] * 10
    now = _feed(burst, pol, rates)
    _feed(flat, pol, [4.0] * len(rates))
    held, base = burst.propose(pol, now).replicas, flat.propose(pol, now).replicas
    assert held is not None and base is not None and held > base  # the burst level is held
    # 600 s later, with the burst out of the history, the ask is the flat one again
    later = _feed(burst, pol, [4.0] * 45, start=now + 15.0)
    assert burst.propose(pol, later).replicas == base


def test_cached_prompt_share_raises_capacity() -> None:
    pol = sized()
    cold, warm = DemandSizer(PROFILE), DemandSizer(PROFILE)
    for i in range(20):
        now = T0 + 15.0 * i
        s = signals(now, 5.0, prompt=8000.0)
        cold.observe(now, s, ReplicaStatus(2, 2, 0), 600.0)
        s = replace(s, prefix_cache_hit_ratio=Reading.of(0.75, at=now))
        warm.observe(now, s, ReplicaStatus(2, 2, 0), 600.0)
    cold.propose(pol, now)
    warm.propose(pol, now)
    assert cold.capacity is not None and warm.capacity is not None
    assert warm.capacity.capacity > cold.capacity.capacity


def test_no_rate_no_proposal_and_policy_off_no_advice() -> None:
    pol = sized()
    sizer = DemandSizer(PROFILE)
    assert sizer.propose(pol, T0).replicas is None
    sizer.observe(T0, signals(T0, None), ReplicaStatus(1, 1, 0), 600.0)
    assert sizer.propose(pol, T0).replicas is None
    advisor = SizingAdvisor(lambda _p: PROFILE)
    off = policy(predictive={"enabled": False})
    assert advisor.advise(off, signals(T0, 5.0), ReplicaStatus(1, 1, 0), T0).floors == ()
    assert advisor.advise(pol, signals(T0, 5.0), ReplicaStatus(1, 1, 0), T0).floors[0].source == "sizing"


def test_missing_rate_with_sizing_on_is_invalid_never_a_scale_down() -> None:
    pol = sized()
    s = signals(T0, None, running=0.0)
    decision, _ = decide(pol, s, DecisionState.fresh(), T0, ReplicaStatus(6, 6, 0))
    assert not decision.valid and decision.desired == 6
    assert decision.binding == "invalid:request_rate"
    # the same gap without sizing is not needed by the thresholds
    plain, _ = decide(policy(predictive={"enabled": False}), s, DecisionState.fresh(), T0, ReplicaStatus(6, 6, 0))
    assert plain.valid


def test_slo_miss_corrects_capacity_instead_of_asking_when_sizing_proposes() -> None:
    pol = sized()
    s = signals(T0, 5.0, waiting=4.0, running=20.0, ttft=6.0)  # 3x over the 2 s TTFT SLO, under load
    floor = Proposal("sizing", 3, "demand / capacity")
    state = DecisionState.fresh()
    with_sizing, _ = decide(pol, s, state, T0, ReplicaStatus(3, 3, 0), floors=(floor,))
    without, _ = decide(pol, s, state, T0, ReplicaStatus(3, 3, 0))
    slo = {p.source: p for p in with_sizing.proposals}["slo_ttft"]
    assert slo.replicas is None and "corrects the model sizing" in slo.detail
    assert {p.source: p for p in without.proposals}["slo_ttft"].replicas == 9  # ceil(3 x 3)
    assert with_sizing.desired < without.desired


def test_state_survives_a_restart_through_the_state_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a sizer that has seen a burst: saved and restored through sizing.json, it asks the same
    # (the burst is still headroom), where a fresh one would size for the rate now only
    from controlplane.advisors.state_file import StateFile

    pol = sized()
    adv = SizingAdvisor(lambda p: PROFILE)
    now = T0
    for i, r in enumerate([20.0] * 4 + [5.0] * 16):
        now = T0 + 15.0 * i
        before = adv.advise(pol, signals(now, r, ttft=0.3), ReplicaStatus(2, 2, 0), now)
    f = StateFile(tmp_path, "sizing.json")
    f.save(adv.state)
    again = SizingAdvisor(lambda p: PROFILE)
    assert f.load(again.restore)
    nxt = now + 15.0
    after = again.advise(pol, signals(nxt, 5.0, ttft=0.3), ReplicaStatus(2, 2, 0), nxt)
    same = adv.advise(pol, signals(nxt, 5.0, ttft=0.3), ReplicaStatus(2, 2, 0), nxt)
    assert after.floors[0].replicas == same.floors[0].replicas == before.floors[0].replicas
    fresh = SizingAdvisor(lambda p: PROFILE).advise(pol, signals(nxt, 5.0, ttft=0.3), ReplicaStatus(2, 2, 0), nxt)
    assert fresh.floors[0].replicas is not None and fresh.floors[0].replicas < after.floors[0].replicas
    # another profile's state is dropped, a corrupt file is ignored
    other = SizingAdvisor(lambda p: get_profile("cpu-tiny"))
    assert f.load(other.restore)
    assert other.advise(pol, signals(nxt, 5.0, ttft=0.3), ReplicaStatus(2, 2, 0), nxt).floors
    assert other.sizers[pol.target_key].profile.name == "cpu-tiny"
    (tmp_path / "sizing.json").write_text("[1, 2")
    assert not f.load(SizingAdvisor(lambda p: PROFILE).restore)


def test_a_sizer_with_size_histograms_round_trips_through_json() -> None:
    import json

    pol = sized()
    sizer = DemandSizer(PROFILE)
    for i in range(20):
        now = T0 + 15.0 * i
        sizer.observe(now, _with_sizes(signals(now, 3.0, prompt=5900.0), 3.0, [0.6, 0.3, 0.08, 0.02]),
                      ReplicaStatus(4, 4, 0), 600.0)
    want = sizer.propose(pol, now)
    again = DemandSizer.from_dict(json.loads(json.dumps(sizer.to_dict())), PROFILE, sizer.settings)
    assert again.propose(pol, now) == want
    assert len(again.prompt_sizes.rows) == 20 and again.prompt_sizes.rows[-1][1][-1] == math.inf


def test_demand_levels_carry_equal_shares_of_the_requests_by_hand() -> None:
    from controlplane.advisors.sizing import demand_levels

    # ten minutes at 1 req/s and ten at 9 req/s: 10 % of the requests arrived at 1 req/s, 90 %
    # at 9, so one level of ten is 1 and nine are 9 (each snapped up to the 5 % grid)
    rates = np.array([1.0] * 10 + [9.0] * 10)
    levels = demand_levels(rates, rates, now_rate=1.0)
    assert len(levels) == 10
    assert levels[0] == pytest.approx(1.0) and all(x == pytest.approx(9.0, rel=0.05) and x >= 9.0 for x in levels[1:])
    # a rate now above every level lifts them all (a ramp is sized at least where it is)
    lifted = demand_levels(rates, rates, now_rate=12.0)
    assert len(set(lifted)) == 1 and 12.0 <= lifted[0] <= 12.0 * 1.05
    assert demand_levels(np.zeros(5), np.zeros(5), now_rate=0.0) == ()


def test_a_correction_is_re_modelled_through_the_fleet_not_divided_per_replica() -> None:
    # one replica carries 5 req/s of 1,000-token prompts with room to spare: a 10 % lower
    # capacity is the model at 5 / 0.9 req/s (still one replica), not ceil(1 / 0.9) = 2
    pol = sized()
    sizer = DemandSizer(PROFILE)
    now = _feed(sizer, pol, [5.0] * 20)
    assert sizer.propose(pol, now).replicas == 1
    assert sizer.capacity is not None
    sizer.capacity.factor = 0.9
    ask = sizer.propose(pol, now)
    assert ask.replicas == 1 and "re-modelled at the demand / 0.900" in ask.detail
    # a correction the model cannot absorb does ask for more
    sizer.capacity.factor = 0.5
    assert (sizer.propose(pol, now).replicas or 0) >= 1
