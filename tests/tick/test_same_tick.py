"""The live loop and the simulator's policy make one tick's decision the same way.

The same scripted signals, the same advisors (fresh instances of one set: forecast floor,
model sizing, schedule pre-warm, anomaly guard, overrides) and the same clock go to a
:class:`ControlLoop` and to a :class:`DecideAutoscaler`; their decision sequences
must be identical, and the run must exercise every advisor so the comparison means
something.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controlplane.advisors.overrides import PlannedOverride
from controlplane.advisors.planner import PlannerSettings
from controlplane.capacity.profile import get_profile
from controlplane.clock import FakeClock
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.override import Override
from controlplane.protocols import Advisor, ReplicaStatus, ScaleResult
from controlplane.signals import Reading, Signals
from controlplane.sim.advisors import sim_advisors
from controlplane.sim.autoscaler import DecideAutoscaler
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics

TICK_S = 15.0
START = 1_700_121_600.0  # Thursday 2023-11-16 08:00 UTC
T0 = START - 1200.0  # 07:40: twenty minutes of history before the window opens
TICKS = 200
PIN_FROM, PIN_UNTIL = START + 1200.0, START + 1500.0  # 08:20-08:25 pinned to 6
ERRORS = range(40, 52)  # ticks with an error burst (the guard holds scale-ups)


def _policy() -> ScalingPolicy:
    return ScalingPolicy.model_validate({
        "name": "chat",
        "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
        "max_replicas": 10,
        "startup_s": 45.0,
        "predictive": {"enabled": True},
        "sizing": {"enabled": True},
        "schedule": [{"name": "office", "days": ["mon", "tue", "wed", "thu", "fri"],
                      "start": "08:00", "end": "18:00", "min_replicas": 3}],
    })


def _signals(k: int, now: float, ready: int) -> Signals:
    """A daily-looking ramp of load with a queue that follows it, one error burst, and a gap."""
    rate = 4.0 + 3.0 * math.sin(k / 25.0) + k / 40.0
    running, kv = min(rate * 2.0, 8.0 * max(ready, 1)), 0.3
    if k in (90, 91):  # the source lost the queue series: missing, never zero
        waiting = Reading.missing("no series")
    elif k in ERRORS:  # failing replicas: requests error out instead of queueing, the KV cache fills
        waiting, kv = Reading.of(0.0, at=now), 0.95
    else:
        waiting = Reading.of(max(0.0, rate * 1.5 - 2.0 * ready), at=now)
    return Signals(
        target="ml/vllm",
        collected_at=now,
        request_rate=Reading.of(rate, at=now),
        prompt_tokens_rate=Reading.of(rate * 300.0, at=now),
        generation_tokens_rate=Reading.of(rate * 120.0, at=now),
        waiting_requests=waiting,
        running_requests=Reading.of(running, at=now),
        kv_cache_usage_mean=Reading.of(kv, at=now),
        ttft_p95=Reading.of(0.4 + 0.05 * (k % 7), at=now),
        itl_p95=Reading.of(0.02, at=now),
        e2e_p95=Reading.of(3.0, at=now),
        error_ratio=Reading.of(0.3 if k in ERRORS else 0.0, at=now),
        ready_replicas=Reading.of(float(ready), at=now),
    )


@dataclass
class Replicas:
    """A deployment whose new replicas are ready 60 s after they are asked for."""

    spec: int = 1
    asked: list[tuple[float, int]] = field(default_factory=list)

    def status(self, now: float) -> ReplicaStatus:
        ready = self.spec - sum(n for t, n in self.asked if now - t < 60.0)
        return ReplicaStatus(spec=self.spec, ready=max(0, ready), pending=self.spec - max(0, ready), observed_at=now)

    def set(self, desired: int, now: float) -> None:
        if desired > self.spec:
            self.asked.append((now, desired - self.spec))
        self.spec = desired


@dataclass
class ScriptedSource:
    replicas: Replicas
    ticks: int = 0

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        k = round((now - T0) / TICK_S)
        self.ticks += 1
        return _signals(k, now, self.replicas.status(now).ready)


@dataclass
class ModelActuator:
    replicas: Replicas

    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus:
        return self.replicas.status(now)

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        if decision.desired == self.replicas.spec:
            return ScaleResult(False, self.replicas.spec, "unchanged")
        self.replicas.set(decision.desired, now)
        return ScaleResult(True, self.replicas.spec, "patched")


def _advisors() -> list[Advisor]:
    pin = Override("pin", 6, PIN_UNTIL, "load test", "ops")
    return sim_advisors(
        get_profile("llama-3.1-8b-h100"),
        tick_s=TICK_S,
        refit_s=600.0,
        settings=PlannerSettings(min_history_s=900.0),
        overrides=[PlannedOverride(PIN_FROM, pin, "ml/vllm")],
        anomaly_guard=True,
    )


def _live() -> list[Decision]:
    replicas = Replicas()
    clock = FakeClock(T0)
    loop = ControlLoop(
        policies=StaticPolicies([_policy()]),
        source=ScriptedSource(replicas),
        actuator=ModelActuator(replicas),
        log=DecisionLog(Database(":memory:")),
        metrics=ControllerMetrics(),
        clock=clock,
        advisors=_advisors(),
    )
    out: list[Decision] = []
    for _ in range(TICKS):
        out.extend(loop.tick())
        clock.advance(TICK_S)
    return out


def _simulated() -> list[Decision]:
    replicas = Replicas()
    clock = FakeClock(T0)
    auto = DecideAutoscaler(_policy(), sync_period_s=TICK_S, advisors=_advisors())
    out: list[Decision] = []
    for k in range(TICKS):
        now = clock.now()
        status = replicas.status(now)
        desired = auto.step(now, _signals(k, now, status.ready), status)
        assert auto.last is not None
        out.append(auto.last)
        if desired != replicas.spec:
            replicas.set(desired, now)
        clock.advance(TICK_S)
    return out


def test_live_loop_and_simulator_decide_identically() -> None:
    live, sim = _live(), _simulated()
    assert len(live) == len(sim) == TICKS
    for i, (a, b) in enumerate(zip(live, sim, strict=True)):
        assert a.to_dict() == b.to_dict(), f"tick {i} differs"


def test_the_run_exercises_every_advisor() -> None:
    decisions = _simulated()
    sources = {p.source for d in decisions for p in d.proposals}
    assert "floor:schedule-prewarm:office" in sources  # pre-warm before 08:00
    assert any(p.source == "floor:predictive" and p.replicas is not None for d in decisions for p in d.proposals)
    assert any(p.source == "floor:sizing" and p.replicas is not None for d in decisions for p in d.proposals)
    assert any(d.binding.startswith("override") for d in decisions)  # the pin
    assert any(d.anomalies for d in decisions) and any(d.binding == "anomaly_guard" for d in decisions)
    assert any(not d.valid for d in decisions)  # the missing queue series
    assert any(d.forecast for d in decisions)
