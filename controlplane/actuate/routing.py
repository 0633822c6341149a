"""Routes each policy to the actuator for its target kind.

Owns: :class:`RoutingActuator`, the actuator the controller's loop is given:
a policy with a local target goes to the local (process) actuator, any other
to the Kubernetes one. Must not import: a client library (the backends come in
built).
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.policy.decision import Decision
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.protocols import Actuator, ReplicaStatus, ScaleResult

__all__ = ["RoutingActuator"]


@dataclass
class RoutingActuator:
    """Sends each policy to the actuator for its target kind (kubernetes or local)."""

    kubernetes: Actuator | None = None
    local: Actuator | None = None

    def _for(self, policy: ScalingPolicy) -> Actuator:
        backend = self.local if isinstance(policy.target, LocalTarget) else self.kubernetes
        if backend is None:
            raise RuntimeError(f"target: no {policy.target.kind} actuator is configured for {policy.name!r}")
        return backend

    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus:
        return self._for(policy).status(policy, now)

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        return self._for(policy).scale(policy, decision, now)
