"""The autoscaler seam of the simulator, our policy behind it, and static provisioning.

Owns: the :class:`Autoscaler` protocol every simulated autoscaler implements,
:class:`DecideAutoscaler` (the live loop's own tick decision,
:func:`controlplane.tick.decide_tick`, with the controller's advisors; imported,
never copied) and :class:`StaticAutoscaler`. Must not import: any I/O library.

An autoscaler is evaluated every ``sync_period_s`` of simulated time with what it
can observe (``observes``: ``"prometheus"`` gets the delayed, windowed
:class:`~controlplane.signals.Signals` of :class:`~controlplane.sim.observe.PromView`;
``"direct"`` gets the replicas' gauges at that instant, as Knative's autoscaler
scraping its queue-proxies does) and the replica status, and returns the
replica count it wants. ``now`` is Unix seconds (simulation epoch + time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.state import DecisionState
from controlplane.protocols import Advice, Advisor, ReplicaStatus
from controlplane.signals import Signals
from controlplane.tick import decide_tick, gather_advice

__all__ = ["Autoscaler", "DecideAutoscaler", "StaticAutoscaler", "FloorSource"]

# (now, signals, status) -> raise-only floors, the hook a predictive policy plugs into.
FloorSource = Callable[[float, Signals, ReplicaStatus], Sequence[Proposal]]


class Autoscaler(Protocol):
    name: str
    sync_period_s: float
    observes: str  # "prometheus" | "direct"

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        """The replica count wanted now (the simulator clamps it to [0, its hard cap])."""
        ...


@dataclass
class DecideAutoscaler:
    """Our policy: the live tick's decision fed with simulated Prometheus signals.

    ``advisors`` run as in the live loop (:func:`controlplane.sim.advisors.sim_advisors`
    builds the controller's set); ``floors`` is a plain hook for extra raise-only
    floors, asked after them. An invalid decision keeps the current count,
    exactly what the live actuator does.
    """

    policy: ScalingPolicy
    name: str = "reactive"
    sync_period_s: float = 15.0
    floors: FloorSource | None = None
    observes: str = "prometheus"
    advisors: Sequence[Advisor] = ()
    state: DecisionState = field(default_factory=DecisionState.fresh)
    decisions: int = 0
    invalid: int = 0
    last: Decision | None = None

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        decision = self.decide(now, observed, status)
        if not decision.valid:
            self.invalid += 1
            return status.spec
        return decision.desired

    def decide(self, now: float, observed: Signals, status: ReplicaStatus) -> Decision:
        """One tick's decision, as the live loop makes it (and the state for the next)."""
        advisors = list(self.advisors)
        if self.floors is not None:
            advisors.append(_FloorHook(self.floors))
        advice, failures = gather_advice(advisors, self.policy, observed, status, now)
        decision, self.state = decide_tick(self.policy, observed, status, self.state, now, advice, failures)
        self.decisions += 1
        self.last = decision
        return decision


@dataclass(frozen=True)
class _FloorHook:
    floors: FloorSource

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        return Advice(floors=tuple(self.floors(now, signals, status)))


@dataclass
class StaticAutoscaler:
    """Static peak provisioning: a fixed count, ready from the start (no cold start)."""

    replicas: int
    name: str = "static"
    sync_period_s: float = 3600.0
    observes: str = "direct"

    def step(self, now: float, observed: Signals, status: ReplicaStatus) -> int:
        return self.replicas
