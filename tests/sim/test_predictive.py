"""The simulator's predictive policy: the live planner's floor, fitted on the replayed past only.

Trace: Poisson arrivals ramping from 2 to 40 req/s over 40 minutes on the toy
profile (100-token prompts, 10 output tokens), so the fleet must grow. The
planner fits after 10 minutes and refits every 10 minutes of simulated time.
"""

from __future__ import annotations

import numpy as np

from controlplane.advisors.planner import PlannerSettings
from controlplane.policy.model import SLO, LocalTarget, ScalingPolicy
from controlplane.sim.advisors import SimForecastAdvisor
from controlplane.sim.autoscaler import DecideAutoscaler
from controlplane.sim.predictive import predictive_autoscaler
from controlplane.sim.registry import ALL_POLICIES, PolicyContext, make_autoscaler
from controlplane.sim.replay import ColdStart, SimConfig, simulate
from controlplane.traces.model import Trace
from tests.sim.helpers import TOY

SETTINGS = PlannerSettings(quick=True, min_history_s=600.0, history_s=6 * 3600.0)


def _ramp(duration: float = 2400.0, lo: float = 2.0, hi: float = 40.0, seed: int = 3) -> Trace:
    # inhomogeneous Poisson by thinning: rate lo + (hi - lo) * t / duration
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, duration, rng.poisson(hi * duration)))
    keep = rng.uniform(0, hi, len(t)) < lo + (hi - lo) * t / duration
    t = t[keep]
    n = len(t)
    return Trace("ramp", t, np.full(n, 100, dtype=np.int64), np.full(n, 10, dtype=np.int64))


def _policy() -> ScalingPolicy:
    return ScalingPolicy(name="sim", target=LocalTarget(group="sim", profile="cpu-tiny"), max_replicas=32,
                         slo=SLO(ttft_p95_s=0.5), startup_s=TOY.startup_s)


def _run(trace: Trace, cold_s: float | None = None) -> DecideAutoscaler:
    auto = predictive_autoscaler(_policy(), TOY, refit_s=600.0, settings=SETTINGS)
    simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=1, cold_start=ColdStart(mean_s=cold_s)))
    return auto


def _forecast(auto: DecideAutoscaler) -> SimForecastAdvisor:
    (found,) = [a for a in auto.advisors if isinstance(a, SimForecastAdvisor)]
    return found


def test_registered_and_built_from_the_shared_policy() -> None:
    assert "predictive" in ALL_POLICIES
    ctx = PolicyContext(_ramp(60.0), TOY, _policy())
    auto = make_autoscaler("predictive", ctx)
    assert isinstance(auto, DecideAutoscaler) and auto.name == "predictive"
    assert auto.policy.predictive.enabled and not ctx.policy.predictive.enabled
    assert isinstance(_forecast(auto), SimForecastAdvisor)


def test_floor_is_fitted_and_bound_in_decisions() -> None:
    auto = _run(_ramp())
    floor = _forecast(auto)
    fitted = [f for f in floor.fits if f.get("fitted")]
    # fits at 600 s after the first tick, then every 600 s: 615, 1215, 1815 (the replay ends near 2400 s)
    assert [f["at"] for f in fitted] == [615.0, 1215.0, 1815.0]
    last = auto.last
    assert last is not None
    (p,) = [p for p in last.proposals if p.source == "floor:predictive"]
    assert p.replicas is not None and p.replicas >= 1, p.detail


def test_fits_never_see_the_future() -> None:
    # Everything up to t = 1300 s must be the same whether the trace goes on to 2400 s or stops
    # at 1300 s: a fit at 1215 s that had seen later arrivals would differ.
    full = _ramp()
    cut = Trace("cut", *(a[full.arrival_s < 1300.0] for a in (full.arrival_s, full.prompt_tokens, full.output_tokens)))
    a, b = _run(full), _run(cut)
    fa = [f for f in _forecast(a).fits if f["at"] < 1300.0]
    fb = [f for f in _forecast(b).fits if f["at"] < 1300.0]
    assert fa == fb and len(fa) == 2


def test_lead_follows_the_simulated_cold_start() -> None:
    # Fixed 120 s cold starts: asked at a tick, ready exactly 8 ticks later, so every observed
    # start-up is 120 s and the lead is p95 120 + tick 15 = 135 s.
    auto = _run(_ramp(), cold_s=120.0)
    floor = _forecast(auto)
    assert floor.planner is not None
    startup = floor.planner.floor.startup
    assert startup.p95() == 120.0
    assert startup.lead_s(auto.policy.startup_s, 15.0)[0] == 135.0
