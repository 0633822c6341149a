"""Scheduled scaling: which policy windows are active at ``now``, and the bounds they set.

Owns: time-of-day window evaluation and the effective replica bounds.
Must not import: any I/O library; time comes in as ``now`` (Unix seconds).

A window is read in its own IANA time zone, so "mon-fri 08:00-18:00
Europe/Berlin" follows Berlin's clocks across daylight-saving changes. ``start``
is inclusive and ``end`` exclusive; ``24:00`` means the end of the day; a window
whose end is not after its start crosses midnight and belongs to the day it
starts on (fri 22:00-06:00 is active on Saturday 05:00). Local times skipped by
a spring-forward never occur; those repeated by a fall-back occur twice.

Several active windows combine strictly: the highest minimum and the lowest
maximum. If a minimum exceeds a maximum the maximum (the budget) wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from controlplane.policy.model import ScalingPolicy, ScheduleWindow

__all__ = ["Bounds", "window_active", "active_windows", "bounds_at"]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Bounds:
    """Effective replica bounds at one instant and what set each of them."""

    min_replicas: int
    max_replicas: int
    min_source: str
    max_source: str
    windows: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def window_active(window: ScheduleWindow, now: float) -> bool:
    local = datetime.fromtimestamp(now, _zone(window.timezone))
    minute = local.hour * 60 + local.minute
    today = _DAY_NAMES[local.weekday()]
    yesterday = _DAY_NAMES[(local.weekday() - 1) % 7]
    start, end = _minutes(window.start), _minutes(window.end)
    if start < end:
        return today in window.days and start <= minute < end
    return (today in window.days and minute >= start) or (yesterday in window.days and minute < end)


def active_windows(windows: Sequence[ScheduleWindow], now: float) -> tuple[ScheduleWindow, ...]:
    return tuple(w for w in windows if window_active(w, now))


def bounds_at(policy: ScalingPolicy, now: float) -> Bounds:
    """The policy's replica bounds at ``now`` with its active schedule windows applied."""
    lo, lo_src = policy.min_replicas, "min_replicas"
    hi, hi_src = policy.max_replicas, "max_replicas"
    active = active_windows(policy.schedule, now)
    for w in active:
        if w.min_replicas is not None and w.min_replicas > lo:
            lo, lo_src = w.min_replicas, f"schedule:{w.name}"
        if w.max_replicas is not None and w.max_replicas < hi:
            hi, hi_src = w.max_replicas, f"schedule:{w.name}"
    if lo > hi:
        lo, lo_src = hi, hi_src
    return Bounds(lo, hi, lo_src, hi_src, tuple(w.name for w in active))
