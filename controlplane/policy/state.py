"""What the decider remembers about one target between ticks.

Owns: :class:`Observation` and :class:`DecisionState` -- the window samples
(Knative stable/panic windows), the recommendation history (HPA-style
stabilization), the panic state, the first-observation time (cautious restart)
and the idle-since time (scale-to-zero).
Must not import: any I/O library.

The state is immutable: :func:`controlplane.policy.decide.decide` returns a new
one every tick. The loop keeps it in memory only (a restarted controller starts
fresh and decides cautiously); :meth:`DecisionState.to_dict` and
:meth:`DecisionState.from_dict` serialise it for whoever needs to.
Memory is bounded: entries older than the longest window are pruned on every
update, and no history holds more than :data:`MAX_ENTRIES` entries even if a
caller ticks far faster than the windows expect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["MAX_ENTRIES", "Observation", "DecisionState"]

# One tick a second over the 300 s default down-stabilization window needs 300;
# the cap only guards against a runaway caller.
MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class Observation:
    """One tick's demand totals, in each signal's own unit (requests, tokens/s,
    KV-cache replica-equivalents), keyed by the policy signal name.

    Totals are kept rather than replica counts so that a policy whose per-replica
    targets change applies the new targets to the whole window at once.
    """

    at: float
    totals: tuple[tuple[str, float], ...]

    def get(self, name: str) -> float | None:
        for key, value in self.totals:
            if key == name:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "totals": dict(self.totals)}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Observation:
        totals = d.get("totals", {})
        if not isinstance(totals, Mapping):
            raise ValueError("observations.totals: expected a mapping")
        return Observation(_finite("at", d["at"]), tuple((str(k), _finite(str(k), v)) for k, v in totals.items()))


def _finite(name: str, value: Any) -> float:
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"{name}: {v} is not a finite number")
    return v


@dataclass(frozen=True, slots=True)
class DecisionState:
    """The decider's memory for one target.

    ``panic_since`` is the last time the panic condition held (None: not in
    panic); panic ends once a whole stable window passes after it.
    ``max_panic_replicas`` is the highest panic-window ask during this panic.
    ``first_seen`` is the start of the current unbroken run of data: a fresh or
    restarted decider allows no scale-down until it holds a full window.
    ``idle_since`` is when waiting + running requests last became zero.
    ``ready_count`` is the ready replicas last seen and ``ready_since`` when that
    count last grew (None when unknown, e.g. after a restart): a latency p95
    measured over a window that began before the change describes the old fleet.
    """

    target: str = ""
    observations: tuple[Observation, ...] = ()
    recommendations: tuple[tuple[float, int], ...] = ()
    panic_since: float | None = None
    max_panic_replicas: int = 0
    first_seen: float | None = None
    idle_since: float | None = None
    ready_count: int | None = None
    ready_since: float | None = None

    @staticmethod
    def fresh(target: str = "") -> DecisionState:
        return DecisionState(target=target)

    @property
    def in_panic(self) -> bool:
        return self.panic_since is not None

    def window(self, now: float, length_s: float) -> tuple[Observation, ...]:
        """Observations in the window ``(now - length_s, now]``."""
        start = now - length_s
        return tuple(o for o in self.observations if start < o.at <= now)

    def held_for(self, now: float) -> float:
        """Seconds of unbroken data behind the state (0 when fresh)."""
        return 0.0 if self.first_seen is None else max(0.0, now - self.first_seen)

    def observe(self, obs: Observation, horizon_s: float) -> DecisionState:
        """Add one observation and prune everything older than ``horizon_s``.

        A gap longer than the horizon (or a clock that went backwards) leaves
        nothing to keep, and counts as a restart: ``first_seen`` starts again.
        """
        now = obs.at
        kept = tuple(o for o in self.observations if now - horizon_s < o.at < now)
        first_seen = self.first_seen if kept and self.first_seen is not None else now
        recs = tuple((t, r) for t, r in self.recommendations if now - horizon_s < t < now)
        return replace(
            self,
            observations=(kept + (obs,))[-MAX_ENTRIES:],
            recommendations=recs[-MAX_ENTRIES:],
            first_seen=first_seen,
        )

    def recommend(self, now: float, replicas: int) -> DecisionState:
        recs = tuple((t, r) for t, r in self.recommendations if t < now) + ((now, replicas),)
        return replace(self, recommendations=recs[-MAX_ENTRIES:])

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "observations": [o.to_dict() for o in self.observations],
            "recommendations": [[t, r] for t, r in self.recommendations],
            "panic_since": self.panic_since,
            "max_panic_replicas": self.max_panic_replicas,
            "first_seen": self.first_seen,
            "idle_since": self.idle_since,
            "ready_count": self.ready_count,
            "ready_since": self.ready_since,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> DecisionState:
        """Rebuild a persisted state; a malformed document raises ValueError naming the field."""
        if not isinstance(d, Mapping):
            raise ValueError("state: expected a mapping")

        def opt(name: str) -> float | None:
            v = d.get(name)
            return None if v is None else _finite(name, v)

        try:
            observations = tuple(Observation.from_dict(o) for o in d.get("observations", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"observations: {exc}") from exc
        try:
            recs = tuple((_finite("recommendations", t), int(r)) for t, r in d.get("recommendations", ()))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"recommendations: {exc}") from exc
        return DecisionState(
            target=str(d.get("target", "")),
            observations=observations[-MAX_ENTRIES:],
            recommendations=recs[-MAX_ENTRIES:],
            panic_since=opt("panic_since"),
            max_panic_replicas=int(d.get("max_panic_replicas", 0)),
            first_seen=opt("first_seen"),
            idle_since=opt("idle_since"),
            ready_count=None if d.get("ready_count") is None else int(d["ready_count"]),
            ready_since=opt("ready_since"),
        )
