"""Pre-warming for scheduled windows: their minimum, asked for one lead time before they open.

Owns: :func:`prewarm_lead_s`, :func:`opens_within`, :func:`prewarm_floors` and
:class:`PrewarmAdvisor` (the floors as each tick's advice, in the live
controller and the simulator alike).
Must not import: any I/O library; time comes in as ``now`` (Unix seconds).

A schedule window's ``min_replicas`` is applied by the decider while the window
is active (:func:`controlplane.policy.schedule.bounds_at`). Replicas asked for
at that moment serve only a start-up later, so within ``lead`` seconds before
a window opens this module proposes its minimum as a raise-only floor named
``schedule-prewarm:<window>``; the decider lists it among the proposals and,
when it binds, in the reasons. Openings are found with
:func:`~controlplane.policy.schedule.window_active` itself, so the pre-warm
follows the window's own time zone and daylight-saving rules exactly: a
Europe/Berlin 08:00 window pre-warms from 07:58:45 local time on both sides
of a clock change.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from controlplane.policy.decision import Proposal
from controlplane.policy.model import ScalingPolicy, ScheduleWindow
from controlplane.policy.schedule import window_active
from controlplane.protocols import Advice
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["prewarm_lead_s", "opens_within", "prewarm_floors", "PrewarmAdvisor", "SOURCE_PREFIX"]

SOURCE_PREFIX = "schedule-prewarm:"


def prewarm_lead_s(policy: ScalingPolicy, tick_s: float, startup_p95_s: float | None = None) -> float:
    """Start-up (the longer of the policy's figure and the measured p95) plus the tick that asks.

    Never shorter than ``policy.startup_s + tick_s``, the lead the cron triggers are
    built with, so a tick they fire always falls inside the pre-warm span.
    """
    if not (math.isfinite(tick_s) and tick_s >= 0):
        raise ValueError(f"tick_s: must be >= 0 seconds, got {tick_s!r}")
    startup = policy.startup_s if startup_p95_s is None else max(policy.startup_s, startup_p95_s)
    return startup + tick_s


def opens_within(window: ScheduleWindow, now: float, lead_s: float, resolution_s: float = 1.0) -> float | None:
    """Seconds until ``window`` opens when that is within (0, lead_s]; None otherwise
    (already open, or not opening that soon). Exact to ``resolution_s``."""
    if lead_s <= 0 or window_active(window, now):
        return None
    probes = max(1, math.ceil(lead_s / 60.0))
    prev = now
    for k in range(1, probes + 1):
        t = now + min(lead_s, k * 60.0)
        if window_active(window, t):
            lo, hi = prev, t
            while hi - lo > resolution_s:
                mid = (lo + hi) / 2.0
                if window_active(window, mid):
                    hi = mid
                else:
                    lo = mid
            return hi - now
        prev = t
    return None


def prewarm_floors(policy: ScalingPolicy, now: float, lead_s: float) -> tuple[Proposal, ...]:
    """A floor per window with a minimum that opens within ``lead_s``."""
    out: list[Proposal] = []
    for w in policy.schedule:
        if w.min_replicas is None:
            continue
        eta = opens_within(w, now, lead_s)
        if eta is None:
            continue
        out.append(Proposal(
            f"{SOURCE_PREFIX}{w.name}", w.min_replicas,
            f"window {w.name} ({w.start} {w.timezone}) opens in {eta:.0f}s <= lead {lead_s:g}s:"
            f" starting its min_replicas {w.min_replicas} now",
        ))
    return tuple(out)


class PrewarmAdvisor:
    """Pre-warm floors; ``startup_p95`` (target key -> seconds or None) lengthens the lead
    when replicas are measured to start slower than the policy says."""

    def __init__(self, tick_s: float, startup_p95: Callable[[str], float | None] | None = None) -> None:
        if not tick_s > 0:
            raise ValueError("tick_s: must be > 0")
        self.tick_s = float(tick_s)
        self.startup_p95 = startup_p95

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        if not policy.schedule:
            return Advice()
        p95 = self.startup_p95(policy.target_key) if self.startup_p95 is not None else None
        return Advice(floors=prewarm_floors(policy, now, prewarm_lead_s(policy, self.tick_s, p95)))
