"""PredictivePlanner: capacity evidence per window, the floor from a fit on the past, state round trip.

Capacity worked numbers: llama-3.1-8b-h100 at 1,000 / 200 tokens (snapped to 1,021 /
204) is modelled at 15.54 req/s per replica; the correction lowers it on a sustained
SLO miss at load L to max(L, 0.9 x C) = max(10, 13.99) = 13.99.
"""

from __future__ import annotations

import pytest

from controlplane.advisors.planner import PlannerSettings, PredictivePlanner, workload_key
from controlplane.capacity.profile import get_profile
from controlplane.protocols import ReplicaStatus
from tests.advisors.helpers import policy, signals

H100 = get_profile("llama-3.1-8b-h100")
SETTINGS = PlannerSettings(quick=True, min_history_s=600.0, history_s=6 * 3600.0)


def _fitted(rate: float = 30.0, seconds: float = 1200.0) -> PredictivePlanner:
    p = PredictivePlanner(H100, SETTINGS)
    t = 0.0
    while t < seconds:
        t += 15.0
        p.observe(t, signals(t, rate), ReplicaStatus(2, 2, 0))
    assert p.fit(t, policy())["fitted"]
    return p


# (name, [(seconds after the fit, ttft p95 s)], capacity after)
EVIDENCE = [
    ("one window over the SLO is a burst: unchanged", [(60, 3.0), (120, 0.3)], 15.54),
    ("two windows in a row over the SLO: lowered to 0.9 C", [(60, 3.0), (120, 3.0)], 13.99),
    ("ticks inside one window count once", [(60, 3.0), (75, 3.0), (90, 3.0), (105, 3.0)], 15.54),
    ("misses two windows apart are not sustained", [(60, 3.0), (120, 0.3), (180, 3.0)], 15.54),
]


@pytest.mark.parametrize("name,steps,capacity", EVIDENCE, ids=[c[0] for c in EVIDENCE])
def test_capacity_evidence_per_window(name: str, steps: list[tuple[float, float]], capacity: float) -> None:
    p = _fitted()
    t0 = 1200.0
    for dt, ttft in steps:
        # 20 req/s on 2 ready replicas: 10 req/s each, between 0.3 C and C
        p.observe(t0 + dt, signals(t0 + dt, 20.0, ttft=ttft), ReplicaStatus(2, 2, 0))
    assert p.capacity is not None and p.capacity.capacity == pytest.approx(capacity, abs=0.01)


def test_fit_uses_only_samples_up_to_now() -> None:
    p = _fitted(seconds=1200.0)
    # a sample stamped after the fit time must not be in the fit
    p.observe(2000.0, signals(2000.0, 500.0), ReplicaStatus(2, 2, 0))
    report = p.fit(1500.0, policy())
    assert report["fitted"] and report["samples"] == 80  # the 80 ticks up to 1,200 s, not the one at 2,000 s


def test_floor_and_forecast_record() -> None:
    p = _fitted()
    proposal, record = p.propose(policy(), 1215.0, 15.0)
    # ceil(30 / (15.54 x 0.8)) = ceil(2.39) = 3
    assert proposal.source == "predictive" and proposal.replicas == 3
    assert record is not None and record["lead_s"] == 75.0 and record["floor"] == 3
    assert record["unit"] == "requests/s" and "1021" in record["capacity_detail"]


def test_round_trip_keeps_forecaster_capacity_and_history() -> None:
    p = _fitted()
    q = PredictivePlanner.from_dict(p.to_dict(), H100, SETTINGS)
    assert q.propose(policy(), 1215.0, 15.0)[0].replicas == 3
    assert len(q.history) == len(p.history)


def test_bad_state_names_the_field() -> None:
    with pytest.raises(ValueError, match="planner.version"):
        PredictivePlanner.from_dict({"version": 9}, H100)


def test_workload_key_snaps_to_a_five_percent_grid() -> None:
    # ln(1000) / ln(1.05) = 141.6 -> 142 steps -> round(1.05^142) = 1,021
    assert workload_key(1000.0, 200.0).prompt_tokens == 1021.0
    assert workload_key(1010.0, 200.0) == workload_key(1000.0, 200.0)
