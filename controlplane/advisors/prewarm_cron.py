"""Scheduled scaling in the live controller: cron-fired pre-warm ticks.

Owns: :func:`fire_time` and :func:`prewarm_triggers` (APScheduler
``CronTrigger``s, one per window with a minimum, in the window's time zone,
firing ``policy.startup_s + tick`` before it opens). Must not import: a web,
Kubernetes or Elasticsearch client.

The windows themselves are evaluated by the decider on every tick (pure,
:mod:`controlplane.policy.schedule`). The cron triggers add a tick exactly at
the pre-warm moment, so scheduled capacity is asked for on time even when the
regular tick grid would ask up to one tick late; that tick sees the pre-warm
floor because the :class:`~controlplane.advisors.prewarm.PrewarmAdvisor`'s lead is never shorter than the trigger's.
APScheduler evaluates the cron fields in the trigger's time zone, so fire
times follow the local clock across daylight-saving changes. A window whose
start falls in the hour a spring-forward skips opens at the jump (the decider's
rule); its trigger then fires at APScheduler's mapping of the skipped time, so
on that one day the regular ticks do the pre-warming.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.advisors.prewarm import prewarm_lead_s
from controlplane.policy.model import ScalingPolicy, ScheduleWindow

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["prewarm_triggers", "fire_time"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def fire_time(window: ScheduleWindow, lead_s: float) -> tuple[list[str], int, int, int]:
    """(days, hour, minute, second) in local time of ``start - lead``; days move back when
    the lead crosses midnight (a 00:01 Monday window with a 3-minute lead fires Sunday 23:58)."""
    hh, mm = (int(x) for x in window.start.split(":"))
    total = hh * 3600 + mm * 60 - int(round(lead_s))
    shift, rem = divmod(total, 86400)
    days = [_DAYS[(_DAYS.index(d) + shift) % 7] for d in window.days]
    return days, rem // 3600, (rem % 3600) // 60, rem % 60


def prewarm_triggers(policies: list[ScalingPolicy], tick_s: float) -> list[tuple[str, CronTrigger]]:
    """``(job id, CronTrigger)`` per schedule window with ``min_replicas``."""
    from apscheduler.triggers.cron import CronTrigger

    out: list[tuple[str, Any]] = []
    for policy in policies:
        lead = prewarm_lead_s(policy, tick_s)
        for w in policy.schedule:
            if w.min_replicas is None:
                continue
            days, h, m, s = fire_time(w, lead)
            trigger = CronTrigger(day_of_week=",".join(days), hour=h, minute=m, second=s, timezone=w.timezone)
            out.append((f"prewarm:{policy.name}:{w.name}", trigger))
    return out
