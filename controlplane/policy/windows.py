"""Window maths for the decider: per-signal demand, window averages, panic mode.

Owns: turning readings into per-signal demand totals, averaging them over the
Knative-style stable and panic windows, and the panic-mode transition.
Must not import: any I/O library.

Demand is kept per signal in the signal's own unit (``waiting_requests``:
requests in the queue; ``kv_cache_usage``: mean usage x ready replicas, i.e.
replica-equivalents of KV cache in use; ``generation_tokens_per_s``: tokens/s;
``running_requests``: requests in the batch). Dividing a window average by the
policy's per-replica target gives the replicas that signal asks for.

Panic (after Knative's KPA): the panic window's demand reaching
``panic_threshold`` x ready replicas starts (or extends) a panic; the panic ends
only once a whole stable window has passed since the condition last held.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.policy.model import SignalTargets
from controlplane.policy.state import DecisionState, Observation
from controlplane.signals import Signals

__all__ = [
    "SIGNAL_FIELDS",
    "enabled_targets",
    "demand_totals",
    "window_means",
    "window_demand",
    "replicas_for",
    "PanicStep",
    "panic_step",
]

# policy signal name -> the Signals field it reads
SIGNAL_FIELDS: dict[str, str] = {
    "waiting_requests": "waiting_requests",
    "kv_cache_usage": "kv_cache_usage_mean",
    "generation_tokens_per_s": "generation_tokens_rate",
    "running_requests": "running_requests",
}

# 13 waiting / 0.1 would otherwise read as 130.00000000000003 -> 131
_CEIL_SLACK = 1e-9


def replicas_for(demand: float) -> int:
    """Whole replicas for a demand in replica units: ceil, forgiving float noise."""
    return max(0, math.ceil(demand - _CEIL_SLACK))


def enabled_targets(targets: SignalTargets) -> dict[str, float]:
    """The enabled per-replica targets, in a fixed order."""
    out: dict[str, float] = {}
    for name in SIGNAL_FIELDS:
        value = getattr(targets, name)
        if value is not None:
            out[name] = float(value)
    return out


def demand_totals(targets: Mapping[str, float], signals: Signals, ready: int) -> Observation:
    """This tick's demand per enabled signal; the caller has checked the readings.

    KV-cache demand with no ready replica is a true zero (no replica holds any
    cache), not a missing reading read as zero.
    """
    totals: list[tuple[str, float]] = []
    for name in targets:
        value = getattr(signals, SIGNAL_FIELDS[name]).value
        if name == "kv_cache_usage":
            totals.append((name, value * ready if ready and value is not None else 0.0))
        elif value is not None:
            totals.append((name, value))
    return Observation(signals.collected_at, tuple(totals))


def window_means(state: DecisionState, now: float, length_s: float, names: tuple[str, ...]) -> dict[str, float]:
    """Mean demand per signal over ``(now - length_s, now]``; a signal with no samples is left out."""
    sums = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
    for obs in state.window(now, length_s):
        for name, value in obs.totals:
            if name in sums:
                sums[name] += value
                counts[name] += 1
    return {n: sums[n] / counts[n] for n in names if counts[n]}


def window_demand(
    state: DecisionState, now: float, length_s: float, targets: Mapping[str, float]
) -> dict[str, float]:
    """Per-signal demand in replica units: window mean / per-replica target."""
    means = window_means(state, now, length_s, tuple(targets))
    return {name: means[name] / target for name, target in targets.items() if name in means}


@dataclass(frozen=True, slots=True)
class PanicStep:
    in_panic: bool
    entered: bool
    exited: bool
    over_threshold: bool
    panic_since: float | None
    max_panic_replicas: int


def panic_step(
    state: DecisionState,
    now: float,
    panic_demand: float,
    ready: int,
    threshold: float,
    stable_s: float,
    panic_replicas: int,
) -> PanicStep:
    """Advance the panic state by one tick.

    ``panic_demand`` is the highest panic-window demand in replica units;
    ``ready`` counts at least one, so a deployment with no ready replica panics
    on any demand of ``threshold`` replicas or more.
    """
    over = panic_demand >= threshold * max(1, ready)
    since = state.panic_since
    entered = exited = False
    if over:
        entered = since is None
        since = now
    elif since is not None and now - since >= stable_s:
        since, exited = None, True
    if since is None:
        return PanicStep(False, entered, exited, over, None, 0)
    peak = max(state.max_panic_replicas if not entered else 0, panic_replicas)
    return PanicStep(True, entered, exited, over, since, peak)
