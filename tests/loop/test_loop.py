"""The control loop with fake parts: what gets patched, recorded and exported on each tick."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client import generate_latest

from controlplane.clock import FakeClock
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice, ReplicaStatus, ScaleResult
from controlplane.signals import Reading, Signals
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from tests.fakes import ObeyingActuator


def _policy(**kw: object) -> ScalingPolicy:
    base = {"name": "chat", "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"}}
    base.update(kw)
    return ScalingPolicy.model_validate(base)


@dataclass
class FakeSource:
    waiting: float | None = 0.0
    raise_error: bool = False

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        if self.raise_error:
            raise RuntimeError("boom")
        w = Reading.of(self.waiting, at=now) if self.waiting is not None else Reading.missing("no series")
        return Signals(
            target=policy.target_key,
            collected_at=now,
            waiting_requests=w,
            running_requests=Reading.of(4.0, at=now),
            kv_cache_usage_mean=Reading.of(0.1, at=now),
            ttft_p95=Reading.of(0.2, at=now),
            itl_p95=Reading.of(0.02, at=now),
            e2e_p95=Reading.of(2.0, at=now),
            ready_replicas=Reading.of(2.0, at=now),
        )




@dataclass
class Leader:
    is_leader: bool = True


def _loop(source: FakeSource, actuator: ObeyingActuator, policy: ScalingPolicy, **kw: object) -> ControlLoop:
    return ControlLoop(
        policies=StaticPolicies([policy]),
        source=source,
        actuator=actuator,
        log=DecisionLog(Database(":memory:")),
        metrics=ControllerMetrics(),
        clock=kw.pop("clock", FakeClock()),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _ticks(loop: ControlLoop, n: int, step_s: float = 15.0) -> list[Decision]:
    out = []
    clock = loop.clock
    for _ in range(n):
        out.extend(loop.tick())
        clock.advance(step_s)  # type: ignore[attr-defined]
    return out


def test_burst_patches_and_records() -> None:
    # waiting 13 over 2 ready, target 2/replica -> ceil(13/2) = 7, step limit +max(4, 100% of 2) = +4 -> 6.
    actuator = ObeyingActuator(spec=2)
    loop = _loop(FakeSource(waiting=13.0), actuator, _policy())
    decisions = loop.tick()
    assert decisions[0].valid and decisions[0].desired == 6
    assert actuator.patches == [6]
    rec = loop.log.list()[0]
    assert rec.patched and rec.decision.binding == decisions[0].binding


@pytest.mark.parametrize(
    "case, source, policy_kw, leader",
    [
        ("missing signal: invalid, no patch", FakeSource(waiting=None), {}, True),
        ("source raised: invalid, no patch", FakeSource(raise_error=True), {}, True),
        ("shadow mode: decided, never patched", FakeSource(waiting=13.0), {"mode": "shadow"}, True),
        ("standby instance: decided, never patched", FakeSource(waiting=13.0), {}, False),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_no_patch_cases(case: str, source: FakeSource, policy_kw: dict, leader: bool) -> None:
    actuator = ObeyingActuator(spec=2)
    loop = _loop(source, actuator, _policy(**policy_kw), leadership=Leader(leader))
    decisions = _ticks(loop, 3)
    assert actuator.patches == []
    assert actuator.spec == 2
    assert len(loop.log.list()) == 3
    if "invalid" in case:
        assert not any(d.valid for d in decisions)
        assert all(d.desired == d.current == 2 for d in decisions)


def test_a_standby_on_a_shared_store_records_nothing() -> None:
    actuator = ObeyingActuator(spec=2)
    loop = _loop(FakeSource(waiting=13.0), actuator, _policy(), leadership=Leader(False))
    loop.record_standby = False
    decisions = _ticks(loop, 3)
    assert [d.desired for d in decisions] == [6, 6, 6] and actuator.patches == []
    assert loop.log.list() == []
    text = generate_latest(loop.metrics.registry).decode()
    assert 'controlplane_desired_replicas{policy="chat",target="ml/vllm"} 6.0' in text


def test_missing_data_never_scales_down() -> None:
    # Quiet but no waiting series: the decider cannot tell quiet from blind, so nothing moves.
    actuator = ObeyingActuator(spec=5)
    loop = _loop(FakeSource(waiting=None), actuator, _policy(windows={"scale_down_stabilization_s": 0.0}))
    _ticks(loop, 30)
    assert actuator.patches == []


def test_step_error_counted_and_exported() -> None:
    loop = _loop(FakeSource(raise_error=True), ObeyingActuator(), _policy())
    loop.tick()
    text = generate_latest(loop.metrics.registry).decode()
    assert 'controlplane_step_errors_total{step="collect"} 1.0' in text
    assert 'controlplane_decision_valid{policy="chat",target="ml/vllm"} 0.0' in text
    assert "controlplane_ticks_total 1.0" in text


class FloorAdvisor:
    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        return Advice(floors=(Proposal("predictive", 5, "forecast 40 req/s / 8 per replica -> 5"),))


class BrokenAdvisor:
    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        raise RuntimeError("forecast store unavailable")


def test_advisors_raise_only_and_failures_isolated() -> None:
    # Load asks for 2 (waiting 0, running 4 / 48 -> 1, min 1); the predictive floor asks 5.
    actuator = ObeyingActuator(spec=2)
    loop = _loop(FakeSource(waiting=0.0), actuator, _policy(), advisors=[BrokenAdvisor(), FloorAdvisor()])
    d = loop.tick()[0]
    assert d.valid and d.desired == 5
    text = generate_latest(loop.metrics.registry).decode()
    assert 'controlplane_step_errors_total{step="advise:BrokenAdvisor"} 1.0' in text


class UnreadableOverrides(BrokenAdvisor):
    required = True


def test_a_required_advisor_failing_makes_the_decision_invalid() -> None:
    # The burst asks for 6; the overrides cannot be read, and one may pause this target: no patch.
    actuator = ObeyingActuator(spec=2)
    loop = _loop(FakeSource(waiting=13.0), actuator, _policy(), advisors=[UnreadableOverrides(), FloorAdvisor()])
    d = loop.tick()[0]
    assert not d.valid and d.desired == d.current == 2
    assert d.binding == "invalid:UnreadableOverrides_unavailable"
    assert "UnreadableOverrides unavailable: forecast store unavailable" in d.reasons
    assert actuator.patches == []


@dataclass
class GivingUpActuator(ObeyingActuator):
    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        return ScaleResult(False, self.spec, "gave up after 5 attempts", attempts=5, error="503 Service Unavailable")


def test_actuator_giving_up_counts_as_step_error() -> None:
    loop = _loop(FakeSource(waiting=13.0), GivingUpActuator(spec=2), _policy())
    loop.tick()
    text = generate_latest(loop.metrics.registry).decode()
    assert 'controlplane_step_errors_total{step="actuate"} 1.0' in text
    assert loop.log.list()[0].actuation["error"] == "503 Service Unavailable"
