"""The small protocols the control loop is wired from.

Owns: the plug-in seams (Source, Actuator, Notifier, Forecaster, Detector,
PolicyStore) and the plain data they exchange. One backend per module
implements each; the loop only sees these types, never a client library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.signals import Signals

__all__ = [
    "ReplicaStatus",
    "ScaleResult",
    "Alert",
    "Source",
    "Actuator",
    "Notifier",
    "Forecaster",
    "Detector",
    "PolicyStore",
]


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """What the actuator sees of a target: spec, ready and still-starting replicas.

    ``owner_conflict`` is set when something else also scales the target (an HPA,
    or a replica count changed by someone since our last patch).
    """

    spec: int
    ready: int
    pending: int
    owner_conflict: str | None = None
    observed_at: float = 0.0


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


class Forecaster(Protocol):
    name: str

    def fit(self, t: Sequence[float], y: Sequence[float]) -> None: ...

    def predict(self, now: float, horizons_s: Sequence[float], quantiles: Sequence[float]) -> dict[float, list[float]]:
        """For each quantile, one value per horizon."""
        ...


class Detector(Protocol):
    def update(self, t: float, x: float) -> float:
        """Feed one sample; return an anomaly score in [0, 1]."""
        ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class PolicyStore(Protocol):
    def list_policies(self) -> list[ScalingPolicy]: ...

    def get_policy(self, name: str) -> ScalingPolicy | None: ...
