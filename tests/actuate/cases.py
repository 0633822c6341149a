"""Builders for the policies and decisions the actuation tests feed the actuator."""

from __future__ import annotations

from controlplane.policy.decision import Decision
from controlplane.policy.model import KubernetesTarget, ScalingPolicy

__all__ = ["T0", "decision", "policy"]

T0 = 1_700_000_000.0


def policy(deployment: str = "chat", mode: str = "active", max_replicas: int = 8) -> ScalingPolicy:
    return ScalingPolicy(
        name=deployment,
        target=KubernetesTarget(namespace="default", deployment=deployment),
        min_replicas=1,
        max_replicas=max_replicas,
        mode=mode,  # type: ignore[arg-type]
    )


def decision(
    current: int,
    desired: int,
    at: float = T0,
    valid: bool = True,
    shadow: bool = False,
    deployment: str = "chat",
) -> Decision:
    return Decision(
        target=f"default/{deployment}",
        policy=deployment,
        at=at,
        valid=valid,
        current=current,
        desired=desired,
        binding="waiting_requests",
        reasons=("test",),
        shadow=shadow,
    )
