"""Builders for decider tests: policies from partial documents, signals from a
few numbers, and tick histories run through ``decide`` with a fake ``now``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.policy.decide import decide
from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.model import ScalingPolicy, parse_policy
from controlplane.policy.override import Override
from controlplane.policy.state import DecisionState
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals

# 2026-11-24 12:00:00 UTC, a Tuesday; every test clock is an offset from it.
T0 = 1_795_521_600.0

# A lightly loaded deployment: nothing queued, 4 in the batch, 10% KV cache,
# latencies well inside the default SLOs.
QUIET: dict[str, float] = {"waiting": 0, "running": 4, "kv": 0.1, "ttft": 0.5, "itl": 0.05, "e2e": 5.0}

_FIELDS = {
    "waiting": "waiting_requests",
    "running": "running_requests",
    "kv": "kv_cache_usage_mean",
    "ttft": "ttft_p95",
    "itl": "itl_p95",
    "e2e": "e2e_p95",
    "tokens": "generation_tokens_rate",
    "rate": "request_rate",
}


def policy(**over: Any) -> ScalingPolicy:
    """The default policy for default/vllm with ``over`` merged in (nested dicts merge)."""
    doc: dict[str, Any] = {"name": "chat", "target": {"kind": "kubernetes", "deployment": "vllm"}}
    for key, value in over.items():
        doc[key] = value
    return parse_policy(doc)


def signals(now: float, load: dict[str, Any]) -> Signals:
    """Signals at ``now`` from short names; a Reading value is passed through as is."""
    readings: dict[str, Reading] = {}
    for short, value in load.items():
        readings[_FIELDS[short]] = value if isinstance(value, Reading) else Reading.of(value, now)
    return Signals(target="default/vllm", collected_at=now, **readings)


@dataclass(frozen=True)
class Tick:
    """One tick ``at`` seconds from T0 with this load and replica status."""

    at: float
    load: dict[str, Any]
    spec: int
    ready: int | None = None
    pending: int = 0
    conflict: str | None = None

    def status(self) -> ReplicaStatus:
        ready = self.spec if self.ready is None else self.ready
        return ReplicaStatus(spec=self.spec, ready=ready, pending=self.pending, owner_conflict=self.conflict)


def steady(start: float, end: float, load: dict[str, Any], spec: int, ready: int | None = None) -> list[Tick]:
    """Ticks every 15 s from ``start`` to ``end`` inclusive (offsets from T0)."""
    out, t = [], start
    while t <= end:
        out.append(Tick(t, load, spec, ready))
        t += 15
    return out


def warm(load: dict[str, Any], spec: int, ready: int | None = None) -> list[Tick]:
    """330 s of steady ticks before T0: past the 300 s cautious start."""
    return steady(-330, -15, load, spec, ready)


@dataclass(frozen=True)
class Extras:
    floors: Sequence[Proposal] = ()
    guard: str | None = None
    override: Override | None = None
    state: DecisionState | None = field(default=None)


def run(pol: ScalingPolicy, history: Sequence[Tick], final: Tick, extras: Extras = Extras()) -> Decision:
    decision, _ = run_with_state(pol, history, final, extras)
    return decision


def run_with_state(
    pol: ScalingPolicy, history: Sequence[Tick], final: Tick, extras: Extras = Extras()
) -> tuple[Decision, DecisionState]:
    state = extras.state or DecisionState()
    for tick in history:
        now = T0 + tick.at
        _, state = decide(pol, signals(now, tick.load), state, now, tick.status())
    now = T0 + final.at
    return decide(
        pol,
        signals(now, final.load),
        state,
        now,
        final.status(),
        floors=extras.floors,
        guard=extras.guard,
        override=extras.override,
    )


def load(**over: Any) -> dict[str, Any]:
    """QUIET with some readings changed."""
    return {**QUIET, **over}
