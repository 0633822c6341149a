"""The control loop: runs the tick over sources, advisors, decider and actuator.

A tick, for every policy: collect signals -> read the target's replica status ->
the tick's decision (:mod:`controlplane.tick`: advice from the forecast floor,
schedule pre-warm, anomaly guard and overrides, merged, then ``decide``) ->
actuate (only the leader, never in shadow mode, never on an invalid decision) ->
record the decision -> export metrics. Each step is timed; a step that raises is
counted and makes that policy's decision invalid for the tick, never a scale-down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from controlplane.clock import Clock, SystemClock
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.state import DecisionState
from controlplane.protocols import (
    Actuator,
    Advisor,
    Leadership,
    PolicyStore,
    ReplicaStatus,
    ScaleResult,
    Source,
)
from controlplane.signals import Signals
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from controlplane.tick import decide_tick, gather_advice

__all__ = ["ControlLoop", "StaticPolicies"]

log = logging.getLogger(__name__)


class StaticPolicies:
    """A PolicyStore over a fixed list (single-node mode, tests)."""

    def __init__(self, policies: Sequence[ScalingPolicy]) -> None:
        self._policies = list(policies)

    def list_policies(self) -> list[ScalingPolicy]:
        return list(self._policies)

    def get_policy(self, name: str) -> ScalingPolicy | None:
        return next((p for p in self._policies if p.name == name), None)


@dataclass
class _Always:
    is_leader: bool = True


@dataclass
class ControlLoop:
    policies: PolicyStore
    source: Source
    actuator: Actuator
    log: DecisionLog
    metrics: ControllerMetrics = field(default_factory=ControllerMetrics)
    clock: Clock = field(default_factory=SystemClock)
    leadership: Leadership = field(default_factory=_Always)
    advisors: Sequence[Advisor] = ()
    on_decision: Callable[[Decision, ScaleResult | None], None] | None = None
    # False when replicas share one store: the standby's copies would interleave with the
    # leader's decisions; it still decides and exports them in its metrics.
    record_standby: bool = True
    states: dict[str, DecisionState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> list[Decision]:
        """Run one tick over every policy; never raises for a policy's failure."""
        with self._lock, self.metrics.tick_timer():
            leader = self.leadership.is_leader
            self.metrics.leader.set(1 if leader else 0)
            decisions = []
            try:
                policies = self.policies.list_policies()
            except Exception:
                self.metrics.step_errors.labels("policies").inc()
                log.exception("could not list policies")
                return []
            for policy in policies:
                decisions.append(self._tick_one(policy, leader))
            self.metrics.ticks.inc()
            self.metrics.last_tick.set(self.clock.now())
            return decisions

    def _tick_one(self, policy: ScalingPolicy, leader: bool) -> Decision:
        now = self.clock.now()
        key = policy.target_key
        status = ReplicaStatus(spec=0, ready=0, pending=0, owner_conflict="status unknown", observed_at=now)
        signals = Signals(target=key, collected_at=now)
        failures: list[str] = []
        try:
            with self.metrics.step("collect"):
                signals = self.source.collect(policy, now)
        except Exception as exc:
            failures.append(f"collect failed: {exc}")
            log.exception("collect failed for %s", key)
        try:
            with self.metrics.step("status"):
                status = self.actuator.status(policy, now)
        except Exception as exc:
            failures.append(f"replica status unavailable: {exc}")
            log.exception("status failed for %s", key)
        advice, advisor_failures = gather_advice(self.advisors, policy, signals, status, now, step=self.metrics.step)
        failures.extend(advisor_failures)
        state = self.states.get(key) or DecisionState.fresh(key)
        with self.metrics.step("decide"):
            decision, state = decide_tick(policy, signals, status, state, now, advice, failures)
        self.states[key] = state
        result: ScaleResult | None = None
        if decision.valid and leader and not decision.shadow and policy.mode != "shadow":
            try:
                with self.metrics.step("actuate"):
                    result = self.actuator.scale(policy, decision, now)
                if result.error:
                    # The actuator gave up without raising (retries exhausted, 403, 422): still a failed step.
                    self.metrics.step_errors.labels("actuate").inc()
                    log.warning("scaling %s failed: %s", key, result.error)
            except Exception as exc:
                log.exception("actuate failed for %s", key)
                result = ScaleResult(False, decision.current, "actuation raised", error=str(exc))
        elif not leader:
            result = ScaleResult(False, decision.current, "not the leader: decision recorded only")
        try:
            if leader or self.record_standby:
                with self.metrics.step("record"):
                    self.log.append(decision, result)
        except Exception:
            log.exception("could not record decision for %s", key)
        self.metrics.observe(decision, status, result, signals)
        if self.on_decision is not None:
            self.on_decision(decision, result)
        return decision
