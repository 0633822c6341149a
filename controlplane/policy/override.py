"""Operator overrides: pin a target to a replica count, or pause its scaling.

Owns: the :class:`Override` value. The decider checks ``expires_at`` against
the ``now`` it is given, so an override lapses on its own without a cleanup job.
Must not import: any I/O library.

A pin is the operator's word: it skips windows, SLO checks, schedule bounds and
step limits, but never leaves the policy's own ``min_replicas``/``max_replicas``
(the GPU budget); to go further, change the policy. A pause keeps the current
replica count and is valid even when the signals are not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from controlplane.policy.model import PolicyError

__all__ = ["Override", "OverrideError"]


class OverrideError(PolicyError):
    """An override that does not validate; ``field`` names the offending key."""


@dataclass(frozen=True, slots=True)
class Override:
    kind: Literal["pin", "pause"]
    replicas: int | None
    expires_at: float
    reason: str
    created_by: str

    def __post_init__(self) -> None:
        if self.kind not in ("pin", "pause"):
            raise OverrideError("kind", f"must be 'pin' or 'pause', not {self.kind!r}")
        if self.kind == "pin":
            if not isinstance(self.replicas, int) or isinstance(self.replicas, bool) or self.replicas < 0:
                raise OverrideError("replicas", "a pin needs a whole number of replicas >= 0")
        elif self.replicas is not None:
            raise OverrideError("replicas", "a pause keeps the current count; leave replicas unset")
        if isinstance(self.expires_at, bool) or not isinstance(self.expires_at, int | float):
            raise OverrideError("expires_at", "expected Unix seconds")
        if math.isnan(self.expires_at) or math.isinf(self.expires_at):
            raise OverrideError("expires_at", "expected a finite time: every override expires")
        if not self.reason.strip():
            raise OverrideError("reason", "say why, for the decision log")
        if not self.created_by.strip():
            raise OverrideError("created_by", "name who set the override")

    def active(self, now: float) -> bool:
        """In force until ``expires_at`` (exclusive)."""
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Override:
        for key in ("kind", "expires_at", "reason", "created_by"):
            if key not in d:
                raise OverrideError(key, "required")
        unknown = sorted(set(d) - {"kind", "replicas", "expires_at", "reason", "created_by"})
        if unknown:
            raise OverrideError(unknown[0], "unknown field")
        return Override(
            kind=d["kind"],
            replicas=d.get("replicas"),
            expires_at=d["expires_at"],
            reason=str(d["reason"]),
            created_by=str(d["created_by"]),
        )
