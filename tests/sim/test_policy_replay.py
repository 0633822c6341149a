"""Our policy in the simulator: the live decider, fed simulated Prometheus signals, with the
same ScalingPolicy and PerformanceProfile the emulator and loop would use."""

from __future__ import annotations

from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.sim.autoscaler import DecideAutoscaler
from controlplane.sim.compare import simulate_policy
from controlplane.sim.observe import ScrapeConfig
from controlplane.sim.registry import POLICIES, PolicyContext, default_policy, make_autoscaler
from controlplane.sim.replay import SimConfig, simulate
from tests.sim.helpers import TOY, poisson_trace


def _policy(max_replicas: int = 6) -> ScalingPolicy:
    return ScalingPolicy(name="toy", target=LocalTarget(group="toy", profile="toy"), min_replicas=1,
                         max_replicas=max_replicas, startup_s=30.0)


def test_overload_scales_up_within_the_policy_bounds() -> None:
    # 20 req/s of 400-token prompts is 8 s of prefill per second on TOY (0.4 s each):
    # one replica is far behind, so the decider must add replicas, never past max_replicas 6.
    trace = poisson_trace(20.0, 300.0, prompt=400, output=10, seed=9)
    run = simulate_policy(trace, _policy(), TOY, cold_start_s=30.0)
    assert run.created[0] == 0.0 and len(run.created) > 1  # started with min_replicas 1, added more
    assert run.scale_events[0][2] > run.scale_events[0][1]
    assert max(n for _, n, _ in run.replica_log) <= 6
    assert run.finished_events == len(trace)


def test_light_load_stays_at_min() -> None:
    trace = poisson_trace(0.5, 300.0, prompt=100, output=10, seed=3)
    run = simulate_policy(trace, _policy(), TOY, cold_start_s=30.0)
    assert run.scale_events == [] and run.replica_seconds == run.horizon


def test_invalid_decisions_hold_the_count() -> None:
    # The first ticks come before two scrapes exist: rates are missing -> the decision is
    # invalid and the autoscaler keeps the current count, although the load (20 req/s of
    # 400-token prompts, far past one replica) would make a valid decision scale up.
    steps: list[tuple[bool, int, int]] = []  # (valid, spec replicas, count asked for)

    class Recording(DecideAutoscaler):
        def step(self, now, observed, status):  # type: ignore[no-untyped-def]
            asked = super().step(now, observed, status)
            assert self.last is not None
            steps.append((self.last.valid, status.spec, asked))
            return asked

    auto = Recording(_policy())
    trace = poisson_trace(20.0, 120.0, prompt=400, output=10, seed=9)
    simulate(trace, auto, SimConfig(profile=TOY, initial_replicas=1, scrape=ScrapeConfig(eval_delay_s=30.0)))
    invalid = [(spec, asked) for valid, spec, asked in steps if not valid]
    assert invalid and all(asked == spec for spec, asked in invalid)
    assert any(asked > spec for valid, spec, asked in steps if valid)  # the load did call for more


def test_registry_builds_every_policy() -> None:
    trace = poisson_trace(2.0, 60.0, seed=1)
    ctx = PolicyContext(trace, TOY, default_policy(2.0, TOY))
    for name in POLICIES:
        auto = make_autoscaler(name, ctx)
        assert auto.name == name and auto.sync_period_s > 0
