"""Operator overrides given as a list: the simulator's and a test's stand-in for the override table.

Owns: :class:`PlannedOverride` and :class:`PlannedOverrides` (an
:class:`~controlplane.protocols.Advisor`). Each tick it returns the override in
force for the policy's target at ``now`` -- from its ``starts_at`` until the
override's own ``expires_at`` -- as ``Advice(override=...)``, the advice the
live :class:`~controlplane.store.overrides.OverrideAdvisor` reads from the
database. Pure: no I/O, no clock.
Must not import: any I/O library.

As in the table, a target has at most one override in force at a time; when
planned ones overlap, the one started last is in force (the live API refuses a
second one until the first is ended).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.policy.model import ScalingPolicy
from controlplane.policy.override import Override, OverrideError
from controlplane.protocols import Advice
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["PlannedOverride", "PlannedOverrides"]


@dataclass(frozen=True, slots=True)
class PlannedOverride:
    """``override`` in force from ``starts_at`` (Unix seconds) on ``target`` (a target key; None: every target)."""

    starts_at: float
    override: Override
    target: str | None = None

    def __post_init__(self) -> None:
        if not self.starts_at < self.override.expires_at:
            raise OverrideError("starts_at", "must be before the override's expires_at")

    def in_force(self, target: str, now: float) -> bool:
        return (self.target is None or self.target == target) and self.starts_at <= now and self.override.active(now)


class PlannedOverrides:
    """The override in force at each tick, from a fixed plan."""

    def __init__(self, planned: Sequence[PlannedOverride] = ()) -> None:
        self.planned = sorted(planned, key=lambda p: p.starts_at)

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        live = [p for p in self.planned if p.in_force(policy.target_key, now)]
        return Advice(override=live[-1].override) if live else Advice()
