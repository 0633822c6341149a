"""The small protocols the control loop is wired from.

Owns: the plug-in seams (Source, Actuator, Notifier, PolicyStore, Advisor,
Leadership) and the plain data they exchange (:class:`Advice`,
:class:`ScaleResult`, :class:`Alert`; :class:`ReplicaStatus` lives in
:mod:`controlplane.signals` beside the other observations, so the pure decider
reads it without importing this module). One backend per module implements
each; the loop only sees these types, never a client library. Forecasters and
detectors have their own protocols in :mod:`controlplane.forecast.base` and
:mod:`controlplane.detect.base`.
Must not import: any I/O library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.override import Override
from controlplane.signals import ReplicaStatus, Signals

__all__ = [
    "ReplicaStatus",
    "ScaleResult",
    "Alert",
    "Advice",
    "Source",
    "Actuator",
    "Notifier",
    "PolicyStore",
    "Advisor",
    "Leadership",
]


@dataclass(frozen=True, slots=True)
class ScaleResult:
    patched: bool
    replicas: int
    detail: str
    attempts: int = 1
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One Alertmanager alert; ``ends_at`` set means resolved."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Advice:
    """What the stages beside the decider add to one decision."""

    floors: tuple[Proposal, ...] = ()
    guard: str | None = None
    override: Override | None = None
    anomalies: tuple[str, ...] = ()
    forecast: dict[str, Any] | None = None


class Source(Protocol):
    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        """Read every signal for the policy's target at ``now``; never raises for no data."""
        ...


class Actuator(Protocol):
    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus: ...

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        """Make the target's replica count ``decision.desired``; patch only on change."""
        ...


class Notifier(Protocol):
    def send(self, alerts: Sequence[Alert], now: float) -> None: ...


class PolicyStore(Protocol):
    def list_policies(self) -> list[ScalingPolicy]: ...

    def get_policy(self, name: str) -> ScalingPolicy | None: ...


class Advisor(Protocol):
    """A stage that looks at a policy's signals before the decision (forecast, anomalies, overrides).

    A failing advisor is skipped, as raise-only floors and annotations can be. An
    advisor whose class sets ``required = True`` (the operator's overrides) cannot:
    when it fails the decision is invalid and nothing is patched, since acting
    without it could undo what an operator pinned or paused.
    """

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice: ...


class Leadership(Protocol):
    """Whether this replica of the controller may patch (leader election, or always)."""

    @property
    def is_leader(self) -> bool: ...
