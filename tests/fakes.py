"""Fakes shared by tests that run the control loop without real backends."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import ReplicaStatus, ScaleResult

__all__ = ["ObeyingActuator"]


@dataclass
class ObeyingActuator:
    """Every replica is ready at once; a scale to a new count is recorded as a patch."""

    spec: int = 2
    patches: list[int] = field(default_factory=list)

    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus:
        return ReplicaStatus(spec=self.spec, ready=self.spec, pending=0, observed_at=now)

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        if decision.desired == self.spec:
            return ScaleResult(False, self.spec, "unchanged")
        self.patches.append(decision.desired)
        self.spec = decision.desired
        return ScaleResult(True, self.spec, "patched")
