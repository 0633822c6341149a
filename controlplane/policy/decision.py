"""A decision is data: what was decided, from what, and why.

Owns: :class:`Proposal` and :class:`Decision`, the record every stage after the
decider (actuator, notifier, decision log, API, dashboards) reads.
Must not import: any I/O library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Proposal", "Decision"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """What one signal or constraint asks for.

    ``source`` names it (``waiting_requests``, ``slo_ttft``, ``schedule:business-hours``,
    ``predictive``, ``max_replicas`` ...); ``replicas`` is its ask, None when it had
    no data; ``detail`` works the arithmetic for a human.
    """

    source: str
    replicas: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one ``decide`` call for one target.

    ``valid`` False means: do nothing (never patch, above all never scale down).
    ``binding`` is the source of the proposal or limit that fixed ``desired``.
    """

    target: str
    policy: str
    at: float
    valid: bool
    current: int
    desired: int
    binding: str
    reasons: tuple[str, ...]
    proposals: tuple[Proposal, ...] = ()
    mode: str = "stable"  # "stable" | "panic"
    bounds: tuple[int, int] = (0, 0)
    inputs: dict[str, Any] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None
    anomalies: tuple[str, ...] = ()
    shadow: bool = False

    @property
    def change(self) -> int:
        return self.desired - self.current if self.valid else 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["proposals"] = [asdict(p) for p in self.proposals]
        d["bounds"] = list(self.bounds)
        d["anomalies"] = list(self.anomalies)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Decision:
        return Decision(
            target=d["target"],
            policy=d["policy"],
            at=float(d["at"]),
            valid=bool(d["valid"]),
            current=int(d["current"]),
            desired=int(d["desired"]),
            binding=d["binding"],
            reasons=tuple(d.get("reasons", ())),
            proposals=tuple(Proposal(**p) for p in d.get("proposals", ())),
            mode=d.get("mode", "stable"),
            bounds=tuple(d.get("bounds", (0, 0))),  # type: ignore[arg-type]
            inputs=dict(d.get("inputs", {})),
            forecast=d.get("forecast"),
            anomalies=tuple(d.get("anomalies", ())),
            shadow=bool(d.get("shadow", False)),
        )
